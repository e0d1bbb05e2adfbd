#pragma once
// The pool's metric families in Prometheus text format, from its snapshot: the pool counts,
// this renders.

#include "observability/prometheus_writer.hpp"
#include "pool/worker_pool.hpp"

namespace observability {

/// Appends the pool's metric families: pool-wide and per local worker, per remote actor
/// (when the pool takes remotes), throughput, cancellations, rejections, queue wait and run
/// time.
void write_pool_metrics(prometheus_writer& w, const pool::worker_pool& pool);

}  // namespace observability
