/* SPDX-License-Identifier: MIT */
/* weft's umbrella header: includes every public header. `make lint` checks it is complete. */
#ifndef WEFT_H
#define WEFT_H

#include <weft/compiler.h>
#include <weft/version.h>
#include <weft/error.h>
#include <weft/failure.h>
#include <weft/deferred.h>
#include <weft/defer-util.h>
#include <weft/log.h>
#include <weft/default-pools.h>
#include <weft/reactor.h>
#include <weft/time.h>
#include <weft/events.h>
#include <weft/task.h>
#include <weft/threadpool.h>
#include <weft/bridge.h>
#include <weft/dbpool.h>
#include <weft/framing.h>
#include <weft/transport.h>
#include <weft/tcp.h>
#include <weft/framed.h>
#include <weft/request.h>
#include <weft/resource.h>
#include <weft/site.h>
#include <weft/web-file.h>
#include <weft/web-metrics.h>
#include <weft/pool-service.h>
#include <weft/service.h>
#include <weft/timer-service.h>
#include <weft/tcp-service.h>
#include <weft/config.h>
#include <weft/app.h>
#include <weft/plugin.h>

#endif /* WEFT_H */
