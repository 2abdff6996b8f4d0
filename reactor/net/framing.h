/* SPDX-License-Identifier: MIT */
/* Framing: Twisted's LineReceiver, NetstringReceiver and Int32/16/8StringReceiver as parsers. */
#ifndef WEFT_REACTOR_NET_FRAMING_H
#define WEFT_REACTOR_NET_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#include <weft/compiler.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Three transport-independent receivers, wire-identical to Twisted's (protocols/basic.py), and
 * their encoders. A receiver is created with options and a table of callbacks plus a ctx
 * pointer; feed() hands it bytes as they arrive and it calls back once per frame. Data given
 * to a callback is borrowed for the call only. The TCP protocols of weft wrap these.
 *
 * Shared rules, for all three receivers:
 * - Callbacks that deliver a frame return int: 0 goes on parsing, non-zero stops parsing for
 *   this feed (Twisted's "lineReceived returned true or the transport is disconnecting"): the
 *   rest stays buffered and is parsed by the next feed or resume.
 * - A callback may call its receiver again: feed (the bytes are only appended, and the running
 *   feed parses them after the bytes already buffered, as Twisted's dataReceived does), pause,
 *   resume, the line receiver's mode switches and clear_buffer, and free (the receiver is then
 *   released when the running feed returns; no callback runs after the one that freed it).
 * - Buffers hold at most one frame's worth (the maximum plus the frame's framing) beyond the
 *   chunk being fed; a frame over the maximum gets the documented reaction instead of growth.
 *   While paused, or after a stop, fed bytes are kept for later: the owner stops reading then.
 * - Thread: loop. A receiver belongs to the connection that feeds it and is not thread-safe.
 */

/* ---------------------------------------------------------------- LineReceiver */

/* Twisted's LineReceiver.MAX_LENGTH and delimiter. */
#define WEFT_LINE_MAX_LENGTH_DEFAULT 16384
#define WEFT_LINE_DELIMITER_DEFAULT  "\r\n"

typedef struct weft_line_receiver_s weft_line_receiver_t;

/* The callbacks of a line receiver. ctx is the pointer given to weft_line_receiver_new. */
typedef struct {
    /* One complete line without its delimiter (len <= max_length). Required. Return 0 to go
     * on, non-zero to stop parsing this feed and keep the rest buffered. */
    int (*line_received)(void *ctx, const char *line, size_t len);
    /* Raw mode: everything buffered, in one call (never with len 0). Return as above. Needed
     * only for raw mode (weft_line_receiver_set_raw_mode refuses without it). */
    int (*raw_data_received)(void *ctx, const char *data, size_t len);
    /* The documented reaction to an over-long line (Twisted's lineLengthExceeded). data is
     * what Twisted hands over: for a complete line over max_length, the line, its delimiter
     * and everything buffered after it; for an unterminated buffer of max_length +
     * delimiter_len bytes or more, the whole buffer. The buffer is empty when it is called, and
     * parsing stops for this feed. The TCP glue's default closes the connection with a logged
     * reason; NULL here just drops the data. */
    void (*line_length_exceeded)(void *ctx, const char *data, size_t len);
} weft_line_receiver_ops_t;

/* Options for weft_line_receiver_new; fill with weft_line_receiver_options_init. */
typedef struct {
    /* The line delimiter, copied; 1 to 255 bytes. Default "\r\n" (delimiter_len 2). */
    const char *delimiter;
    size_t delimiter_len;
    /* Longest line delivered; a line of exactly max_length is fine. Default 16384. */
    size_t max_length;
    /* Twisted's LineOnlyReceiver: no raw mode; an unterminated buffer is over the limit at
     * more than max_length bytes (no delimiter allowance); an over-long complete line reports
     * just that line, and the other complete lines of the chunk are dropped (the unterminated
     * rest is kept); a stop drops the other complete lines of the chunk too. Default false. */
    bool line_only;
} weft_line_receiver_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_line_receiver_options_init(weft_line_receiver_options_t *opts);

/*
 * Creates a line receiver in line mode. opts is borrowed (NULL for defaults), ops is copied,
 * ctx is borrowed and handed to every callback. Returns an owned receiver, released with
 * weft_line_receiver_free, or NULL with *err set (err may be NULL). Thread: any.
 * Errors: WEFT_EINVAL for a NULL ops or line_received, a delimiter of 0 or over 255 bytes,
 * or a max_length over SIZE_MAX / 2; WEFT_ENOMEM.
 */
WEFT_EXPORT WEFT_NODISCARD weft_line_receiver_t *
weft_line_receiver_new(const weft_line_receiver_options_t *opts,
                       const weft_line_receiver_ops_t *ops, void *ctx, int *err);

/* Releases lr and its buffer. Inside one of lr's callbacks, the release happens when the
 * running feed returns, and no further callback runs. weft_line_receiver_free(NULL) does
 * nothing. Thread: loop. */
WEFT_EXPORT void weft_line_receiver_free(weft_line_receiver_t *lr);

/*
 * Hands len bytes to lr, which parses them after anything buffered and calls back for each
 * line (or raw chunk) until the data runs out, it is paused, a callback says stop, or a line
 * is over the limit. data is borrowed for the call; the unparsed rest is copied. Called from
 * one of lr's own callbacks, it only appends: the running feed parses the bytes.
 * Thread: loop.
 * Returns: 0; WEFT_EMSGSIZE when a line was over max_length in this call (after
 * line_length_exceeded ran; lr stays usable); WEFT_ENOMEM when the bytes could not be
 * buffered (the stream is then out of step: close it); WEFT_EINVAL for a NULL lr, or a NULL
 * data with len > 0.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_line_receiver_feed(weft_line_receiver_t *lr, const char *data,
                                                       size_t len);

/*
 * Switches to raw mode: from the next parsing step on, everything buffered goes to
 * raw_data_received. Called inside line_received, it takes effect for the rest of the same
 * chunk. Thread: loop.
 * Returns: 0; WEFT_EINVAL for a line_only receiver or one without raw_data_received.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_line_receiver_set_raw_mode(weft_line_receiver_t *lr);

/*
 * Switches back to line mode and, if len > 0, feeds extra (Twisted's setLineMode(extra): pass
 * the unused part of the raw data). Inside a callback extra is appended after what is still
 * buffered, so pass extra only from raw_data_received, as in Twisted. Thread: loop.
 * Returns: as weft_line_receiver_feed.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_line_receiver_set_line_mode(weft_line_receiver_t *lr,
                                                                const char *extra, size_t len);

/* True in line mode (the initial mode), false in raw mode. Thread: loop. */
WEFT_EXPORT bool weft_line_receiver_is_line_mode(const weft_line_receiver_t *lr);

/*
 * Empties the buffer (Twisted's clearLineBuffer) and hands back what was in it: *data and *len
 * name the bytes, borrowed until the next call on lr or the end of the running callback,
 * whichever comes first. Inside a callback that is the unparsed rest after the current line.
 * Thread: loop.
 * Returns: 0; WEFT_ENOMEM if the bytes could not be made contiguous (nothing is cleared);
 * WEFT_EINVAL for NULL arguments.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_line_receiver_clear_buffer(weft_line_receiver_t *lr,
                                                               const char **data, size_t *len);

/* The number of bytes buffered and not yet parsed. Thread: loop. */
WEFT_EXPORT size_t weft_line_receiver_buffered(const weft_line_receiver_t *lr);

/* Stops parsing until resume (Twisted's pauseProducing, without the transport part). Called
 * inside a callback, parsing stops after that callback. Fed bytes are buffered meanwhile.
 * Thread: loop. */
WEFT_EXPORT void weft_line_receiver_pause(weft_line_receiver_t *lr);

/* Ends a pause and works off the buffer (Twisted's resumeProducing: dataReceived(b"")). Inside
 * a callback it only ends the pause; the running feed goes on. Thread: loop.
 * Returns: as weft_line_receiver_feed. */
WEFT_EXPORT WEFT_NODISCARD int weft_line_receiver_resume(weft_line_receiver_t *lr);

/* True between pause and resume. Thread: loop. */
WEFT_EXPORT bool weft_line_receiver_is_paused(const weft_line_receiver_t *lr);

/* Sets the longest line delivered; it applies from the next parsing step. Thread: loop.
 * Returns: 0; WEFT_EINVAL for a value over SIZE_MAX / 2. */
WEFT_EXPORT WEFT_NODISCARD int weft_line_receiver_set_max_length(weft_line_receiver_t *lr,
                                                                 size_t max_length);

/* The current max_length. Thread: loop. */
WEFT_EXPORT size_t weft_line_receiver_max_length(const weft_line_receiver_t *lr);

/* The delimiter (borrowed, as long as lr lives) and its length in *len. Thread: loop. */
WEFT_EXPORT const char *weft_line_receiver_delimiter(const weft_line_receiver_t *lr, size_t *len);

/* ---------------------------------------------------------------- NetstringReceiver */

/* Twisted's NetstringReceiver.MAX_LENGTH. */
#define WEFT_NETSTRING_MAX_LENGTH_DEFAULT 99999
/* Bytes weft_netstring_prefix may write: 20 digits of a 64-bit length and the colon. */
#define WEFT_NETSTRING_PREFIX_MAX 21
/* What follows the payload of a netstring. */
#define WEFT_NETSTRING_SUFFIX ","

typedef struct weft_netstring_receiver_s weft_netstring_receiver_t;

typedef struct {
    /* One payload (len <= max_length). Required. Return 0 to go on, non-zero to stop parsing
     * this feed and keep the rest buffered. */
    int (*string_received)(void *ctx, const char *data, size_t len);
    /* The documented reaction to malformed input, called once: code is WEFT_EPROTO (no length,
     * a leading zero, a non-digit in the length, a missing comma) or WEFT_EMSGSIZE (a length
     * over max_length, seen digit by digit before the colon); reason is a static sentence.
     * The rest of the chunk is dropped and the receiver never delivers again (Twisted's
     * brokenPeer). The TCP glue's default closes the connection with the reason logged; NULL
     * here leaves only feed's return code. */
    void (*parse_error)(void *ctx, int code, const char *reason);
} weft_netstring_receiver_ops_t;

typedef struct {
    /* Longest payload accepted; exactly max_length is fine. Default 99999. */
    size_t max_length;
} weft_netstring_receiver_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_netstring_receiver_options_init(weft_netstring_receiver_options_t *opts);

/* Creates a netstring receiver; ownership as weft_line_receiver_new. Thread: any.
 * Errors: WEFT_EINVAL for a NULL ops or string_received, or a max_length over SIZE_MAX / 2;
 * WEFT_ENOMEM. */
WEFT_EXPORT WEFT_NODISCARD weft_netstring_receiver_t *
weft_netstring_receiver_new(const weft_netstring_receiver_options_t *opts,
                            const weft_netstring_receiver_ops_t *ops, void *ctx, int *err);

/* Releases ns; inside one of its callbacks, when the running feed returns. NULL does nothing.
 * Thread: loop. */
WEFT_EXPORT void weft_netstring_receiver_free(weft_netstring_receiver_t *ns);

/*
 * Hands len bytes to ns (rules as weft_line_receiver_feed). Thread: loop.
 * Returns: 0; WEFT_EPROTO or WEFT_EMSGSIZE once the input was malformed, in this call (after
 * parse_error ran) or an earlier one (the bytes are then dropped unread); WEFT_ENOMEM;
 * WEFT_EINVAL for a NULL ns, or a NULL data with len > 0.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_netstring_receiver_feed(weft_netstring_receiver_t *ns,
                                                            const char *data, size_t len);

/* 0 while the input is well formed, else the code parse_error was given. Thread: loop. */
WEFT_EXPORT int weft_netstring_receiver_error(const weft_netstring_receiver_t *ns);

/* Pause, resume and is_paused as for the line receiver (an addition to Twisted, whose
 * NetstringReceiver cannot pause). resume returns as feed. Thread: loop. */
WEFT_EXPORT void weft_netstring_receiver_pause(weft_netstring_receiver_t *ns);
WEFT_EXPORT WEFT_NODISCARD int weft_netstring_receiver_resume(weft_netstring_receiver_t *ns);
WEFT_EXPORT bool weft_netstring_receiver_is_paused(const weft_netstring_receiver_t *ns);

/* The number of bytes buffered and not yet parsed. Thread: loop. */
WEFT_EXPORT size_t weft_netstring_receiver_buffered(const weft_netstring_receiver_t *ns);

/* Sets or reads the longest payload accepted (from the next parsing step). Thread: loop.
 * set returns 0, or WEFT_EINVAL for a value over SIZE_MAX / 2. */
WEFT_EXPORT WEFT_NODISCARD int weft_netstring_receiver_set_max_length(weft_netstring_receiver_t *ns,
                                                                      size_t max_length);
WEFT_EXPORT size_t weft_netstring_receiver_max_length(const weft_netstring_receiver_t *ns);

/*
 * Writes the netstring length prefix "<len>:" (decimal, no leading zeros) into out, which has
 * room for WEFT_NETSTRING_PREFIX_MAX bytes, and returns how many bytes it wrote. With the
 * payload and WEFT_NETSTRING_SUFFIX after it, that is an iovec-ready netstring. Like
 * Twisted's sendString, no maximum applies. Thread: any.
 */
WEFT_EXPORT WEFT_NODISCARD size_t weft_netstring_prefix(char *out, size_t len);

/*
 * Encodes data as the netstring "<len>:<data>," into out (cap bytes). *out_len is set to the
 * size of the encoding on success and on WEFT_ENOSPC, so out NULL with cap 0 asks the size.
 * Thread: any.
 * Returns: 0; WEFT_ENOSPC when cap is too small (nothing written); WEFT_EINVAL for a NULL
 * out_len, a NULL data with len > 0, or a size that overflows size_t.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_netstring_encode(const char *data, size_t len, char *out,
                                                     size_t cap, size_t *out_len);

/* ---------------------------------------------------------------- Int32/16/8StringReceiver */

/* Twisted's IntNStringReceiver.MAX_LENGTH, for all three prefix sizes. */
#define WEFT_INTN_MAX_LENGTH_DEFAULT 99999

typedef struct weft_intn_receiver_s weft_intn_receiver_t;

typedef struct {
    /* One payload (len <= max_length). Required. Return 0 to go on, non-zero to stop parsing
     * this feed and keep the rest buffered. */
    int (*string_received)(void *ctx, const char *data, size_t len);
    /* The documented reaction to a length prefix over max_length (Twisted's
     * lengthLimitExceeded), called once, at once when the prefix arrives, before its payload.
     * The receiver then drops the rest and every later byte: it never delivers again. The TCP
     * glue's default closes the connection; NULL here leaves only feed's return code. */
    void (*length_limit_exceeded)(void *ctx, size_t length);
} weft_intn_receiver_ops_t;

typedef struct {
    /* Bytes of the unsigned big-endian length prefix: 4 (Int32StringReceiver, the default),
     * 2 (Int16) or 1 (Int8). */
    unsigned prefix_size;
    /* Longest payload accepted; exactly max_length is fine. Default 99999. */
    size_t max_length;
} weft_intn_receiver_options_t;

/* Fills opts with the defaults above. Thread: any. */
WEFT_EXPORT void weft_intn_receiver_options_init(weft_intn_receiver_options_t *opts);

/* Creates an IntN receiver; ownership as weft_line_receiver_new. Thread: any.
 * Errors: WEFT_EINVAL for a NULL ops or string_received, a prefix_size other than 1, 2 or 4,
 * or a max_length over SIZE_MAX / 2; WEFT_ENOMEM. */
WEFT_EXPORT WEFT_NODISCARD weft_intn_receiver_t *
weft_intn_receiver_new(const weft_intn_receiver_options_t *opts,
                       const weft_intn_receiver_ops_t *ops, void *ctx, int *err);

/* Releases ir; inside one of its callbacks, when the running feed returns. NULL does nothing.
 * Thread: loop. */
WEFT_EXPORT void weft_intn_receiver_free(weft_intn_receiver_t *ir);

/*
 * Hands len bytes to ir (rules as weft_line_receiver_feed). Thread: loop.
 * Returns: 0; WEFT_EMSGSIZE once a length prefix was over max_length, in this call (after
 * length_limit_exceeded ran) or an earlier one (the bytes are then dropped unread);
 * WEFT_ENOMEM; WEFT_EINVAL for a NULL ir, or a NULL data with len > 0.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_intn_receiver_feed(weft_intn_receiver_t *ir, const char *data,
                                                       size_t len);

/* 0, or WEFT_EMSGSIZE after a prefix over max_length. Thread: loop. */
WEFT_EXPORT int weft_intn_receiver_error(const weft_intn_receiver_t *ir);

/* Pause, resume and is_paused as for the line receiver (Twisted's _PauseableMixin). resume
 * returns as feed. Thread: loop. */
WEFT_EXPORT void weft_intn_receiver_pause(weft_intn_receiver_t *ir);
WEFT_EXPORT WEFT_NODISCARD int weft_intn_receiver_resume(weft_intn_receiver_t *ir);
WEFT_EXPORT bool weft_intn_receiver_is_paused(const weft_intn_receiver_t *ir);

/* The number of bytes buffered and not yet parsed. Thread: loop. */
WEFT_EXPORT size_t weft_intn_receiver_buffered(const weft_intn_receiver_t *ir);

/* Sets or reads the longest payload accepted (from the next parsing step). Thread: loop.
 * set returns 0, or WEFT_EINVAL for a value over SIZE_MAX / 2. */
WEFT_EXPORT WEFT_NODISCARD int weft_intn_receiver_set_max_length(weft_intn_receiver_t *ir,
                                                                 size_t max_length);
WEFT_EXPORT size_t weft_intn_receiver_max_length(const weft_intn_receiver_t *ir);

/*
 * Writes the prefix_size-byte big-endian length prefix of a len-byte payload into out (room for
 * 4 bytes); the prefix and the payload, written in that order, are the frame. Like Twisted's
 * sendString, len > max_length is allowed; only len >= 2^(8 * prefix_size) is not.
 * Thread: any.
 * Returns: 0; WEFT_EMSGSIZE for len >= 2^(8 * prefix_size) (256 for Int8); WEFT_EINVAL for a
 * prefix_size other than 1, 2 or 4, or a NULL out.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_intn_prefix(unsigned prefix_size, size_t len,
                                                unsigned char *out);

/*
 * Encodes data as prefix + data into out (cap bytes); *out_len as for weft_netstring_encode.
 * Thread: any.
 * Returns: 0; WEFT_ENOSPC when cap is too small (nothing written); the codes of
 * weft_intn_prefix; WEFT_EINVAL for a NULL out_len or a NULL data with len > 0.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_intn_encode(unsigned prefix_size, const char *data, size_t len,
                                                char *out, size_t cap, size_t *out_len);

/*
 * Encodes line + delimiter into out (cap bytes), which is Twisted's sendLine; the line is not
 * checked for delimiters or length, as in Twisted. For zero copy, write the line and then
 * weft_line_receiver_delimiter's bytes instead. *out_len as for weft_netstring_encode.
 * Thread: any.
 * Returns: 0; WEFT_ENOSPC when cap is too small (nothing written); WEFT_EINVAL for a NULL
 * out_len, a NULL or empty delimiter, a NULL line with len > 0, or a size that overflows.
 */
WEFT_EXPORT WEFT_NODISCARD int weft_line_encode(const char *delimiter, size_t delimiter_len,
                                                const char *line, size_t len, char *out, size_t cap,
                                                size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_REACTOR_NET_FRAMING_H */
