/* SPDX-License-Identifier: MIT */
/* Framing protocols over a transport: LineReceiver, NetstringReceiver, Int32/16/8StringReceiver. */
#ifndef WEFT_REACTOR_NET_FRAMED_H
#define WEFT_REACTOR_NET_FRAMED_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>
#include <weft/failure.h>
#include <weft/framing.h>
#include <weft/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A framed protocol is a protocol (weft_protocol_ops_t) that runs one of the framing receivers
 * of <weft/framing.h> on its connection and hands the user whole frames: Twisted's
 * LineReceiver, NetstringReceiver and IntNStringReceiver as protocols. The wire format, the
 * limits and the reactions are Twisted's; the default reaction to an over-long or malformed
 * frame logs the reason and closes the connection (lose_connection).
 *
 * Use: make one per connection with weft_framed_new (in a factory's build_protocol), and give
 * the connection weft_framed_protocol_ops() with the framed protocol as proto. It frees itself
 * after its connection_lost callback; one whose connection never came (a failed connect) is
 * released with weft_framed_free.
 *
 * Thread: loop, for every function here and every callback.
 */
typedef struct weft_framed_s weft_framed_t;

/* The framings. */
typedef enum {
    WEFT_FRAMING_LINE = 0,  /* LineReceiver (or LineOnlyReceiver with line_only) */
    WEFT_FRAMING_NETSTRING, /* NetstringReceiver */
    WEFT_FRAMING_INT32,     /* Int32StringReceiver */
    WEFT_FRAMING_INT16,     /* Int16StringReceiver */
    WEFT_FRAMING_INT8,      /* Int8StringReceiver */
} weft_framing_t;

/* Options; fill with weft_framed_options_init. */
typedef struct {
    weft_framing_t framing; /* default WEFT_FRAMING_LINE */
    /* The longest frame; 0 (the default) means the framing's Twisted default (16384 for
     * lines, 99999 for the others). */
    size_t max_length;
    /* Lines only: the delimiter (copied; default "\r\n") and LineOnlyReceiver's rules. */
    const char *delimiter;
    size_t delimiter_len;
    bool line_only;
} weft_framed_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_framed_options_init(weft_framed_options_t *opts);

/* The user's side of a framed protocol; ctx is the pointer given to weft_framed_new. Only
 * frame_received is required. */
typedef struct {
    void (*connection_made)(void *ctx, weft_framed_t *fp);
    /* One line (without delimiter) or one string, borrowed for the call. Return 0 to go on,
     * non-zero to stop parsing for now: the rest stays buffered and is parsed on the next loop
     * pass. Memory stays bounded whatever it returns: while more than max_length plus the
     * framing's overhead (delimiter, netstring prefix and comma, IntN prefix) is unparsed, the
     * connection stops reading, and reads again once the backlog is parsed. */
    int (*frame_received)(void *ctx, weft_framed_t *fp, const char *data, size_t len);
    /* Lines in raw mode (weft_framed_set_raw_mode): the bytes, borrowed; return as above. */
    int (*raw_data_received)(void *ctx, weft_framed_t *fp, const char *data, size_t len);
    /*
     * A frame over the maximum or malformed input (Twisted's lineLengthExceeded,
     * lengthLimitExceeded, and a netstring's parse error). code is WEFT_EMSGSIZE or
     * WEFT_EPROTO, reason a static sentence; data/len are a line's over-long bytes (lines),
     * or NULL and the announced length (IntN), or NULL and 0 (netstrings). NULL (the
     * default): log the reason and close the connection.
     */
    void (*bad_frame)(void *ctx, weft_framed_t *fp, int code, const char *reason, const char *data,
                      size_t len);
    /* The connection is gone; takes reason. After it returns fp is freed. */
    void (*connection_lost)(void *ctx, weft_framed_t *fp, weft_failure_t *reason);
    /* The push producer of the connection (weft_protocol_ops_t's pause_producing and
     * resume_producing): the bytes pending rose above the high-water mark / fell to the
     * low-water mark. Stop sending frames meanwhile. Optional. */
    void (*pause_producing)(void *ctx, weft_framed_t *fp);
    void (*resume_producing)(void *ctx, weft_framed_t *fp);
} weft_framed_ops_t;

/*
 * Makes a framed protocol. opts is borrowed (NULL for defaults), ops copied, ctx borrowed.
 * Returns an owned framed protocol (owned by its connection once it runs on one), or NULL with
 * *err set (err may be NULL). Thread: loop.
 * Errors: WEFT_EINVAL for a NULL ops or frame_received, an unknown framing, a bad delimiter;
 * WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_framed_t *weft_framed_new(const weft_framed_options_t *opts,
                                                          const weft_framed_ops_t *ops, void *ctx,
                                                          int *err);

/* Releases a framed protocol that never ran on a connection. NULL does nothing. Thread: loop. */
WEFT_EXPORT void weft_framed_free(weft_framed_t *fp);

/* The protocol ops to run a framed protocol on a connection (proto = the weft_framed_t).
 * Static; never NULL. Thread: any. */
WEFT_EXPORT const weft_protocol_ops_t *weft_framed_protocol_ops(void);

/*
 * Sends one frame in the protocol's framing: the line and its delimiter (sendLine), the
 * netstring, or the length prefix and the bytes (sendString). data is borrowed. Thread: loop.
 * Returns: 0; WEFT_EMSGSIZE for an IntN string of 2^(8n) bytes or more (Int8: 256);
 * WEFT_ECLOSED before the connection is made or once it is closing; the codes of
 * weft_transport_writev.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_framed_send(weft_framed_t *fp, const char *data, size_t len);

/* The connection's transport (NULL before connection_made). Thread: loop. */
WEFT_EXPORT weft_transport_t *weft_framed_transport(const weft_framed_t *fp);

/* The bytes received and not yet parsed into frames (Twisted's len(self._buffer)). At most
 * max_length plus the framing's overhead plus one read (64 KiB): see frame_received.
 * Thread: loop. */
WEFT_EXPORT size_t weft_framed_buffered(const weft_framed_t *fp);

/* The framing this protocol speaks. Thread: loop. */
WEFT_EXPORT weft_framing_t weft_framed_framing(const weft_framed_t *fp);

/* Pauses parsing and the transport's reading (Twisted's pauseProducing); resume works off the
 * buffer, then reads again (resumeProducing). Thread: loop.
 * resume returns: 0, or the codes of the receiver's resume and weft_transport_resume_reading. */
WEFT_EXPORT void weft_framed_pause(weft_framed_t *fp);
WEFT_EXPORT WEFT_NODISCARD int weft_framed_resume(weft_framed_t *fp);

/* Lines only: raw mode and back (setRawMode / setLineMode(extra)). Thread: loop.
 * Returns: 0; WEFT_EINVAL for another framing; the codes of the line receiver's calls. */
WEFT_EXPORT WEFT_NODISCARD int weft_framed_set_raw_mode(weft_framed_t *fp);
WEFT_EXPORT WEFT_NODISCARD int weft_framed_set_line_mode(weft_framed_t *fp, const char *extra,
                                                         size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_NET_FRAMED_H */
