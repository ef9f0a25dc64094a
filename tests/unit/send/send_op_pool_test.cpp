// send_op_pool: idle ops keep their grown buffers for the next send, within one budget per loop.
#include "send/send_op.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

using rmq::send::send_op;
using rmq::send::send_op_pool;

namespace {

constexpr std::size_t mib = 1u << 20;

}  // namespace

TEST_CASE("send_op_pool: an op keeps a grown body for the next send that takes it") {
  send_op_pool pool;
  send_op* op = pool.acquire();
  op->extras().body.assign(64 * 1024, 'x');
  pool.release(op);
  send_op* again = pool.acquire();
  REQUIRE(again == op);  // the op last released is the next one out
  REQUIRE(again->extras_if_any() != nullptr);
  CHECK(again->extras_if_any()->body.empty());
  CHECK(again->extras_if_any()->body.capacity() >= 64 * 1024);
  CHECK(pool.retained_bytes() >= 64 * 1024);
}

TEST_CASE("send_op_pool: idle ops keep at most the budget in all; the rest give theirs back") {
  send_op_pool pool;
  std::vector<send_op*> ops;
  for (int i = 0; i < 64; ++i) {
    ops.push_back(pool.acquire());
    ops.back()->extras().body.assign(mib, 'x');
  }
  for (send_op* op : ops) pool.release(op);
  CHECK(pool.retained_bytes() <= send_op_pool::retained_budget);
  std::size_t kept = 0;
  for (send_op* op : ops) {
    const std::size_t capacity = op->extras_if_any()->body.capacity();
    CHECK((capacity >= mib || capacity < 1024));
    kept += capacity >= mib ? 1 : 0;
  }
  CHECK(kept >= send_op_pool::retained_budget / mib - 1);
  CHECK(kept <= send_op_pool::retained_budget / mib);
}

TEST_CASE("send_op_pool: an op's buffers are counted once, at their size when last released") {
  send_op_pool pool;
  send_op* op = pool.acquire();
  op->extras().body.assign(mib, 'x');
  pool.release(op);
  const std::size_t after_one = pool.retained_bytes();
  CHECK(after_one >= mib);
  op = pool.acquire();
  op->extras().body.assign(2 * mib, 'x');
  pool.release(op);
  CHECK(pool.retained_bytes() >= 2 * mib);
  CHECK(pool.retained_bytes() < 3 * mib);  // not the sum of both sizes
  // Larger than the budget alone: given back, and nothing is counted for it any more.
  op = pool.acquire();
  op->extras().body.assign(send_op_pool::retained_budget + 1, 'x');
  pool.release(op);
  CHECK(pool.retained_bytes() < 1024);
  CHECK(op->extras_if_any()->body.capacity() < 1024);
}

TEST_CASE("send_op_pool: a batch taken over from the caller is not kept; short strings count 0") {
  send_op_pool pool;
  send_op* op = pool.acquire();
  op->extras().owned_batch.resize(100);
  op->extras().batch_ids = "short";
  pool.release(op);
  CHECK(op->extras_if_any()->owned_batch.capacity() == 0);
  CHECK(pool.retained_bytes() == 0);
}

TEST_CASE("send_op_pool: an op in flight keeps its count while others come and go") {
  send_op_pool pool;
  send_op* busy = pool.acquire();
  busy->extras().body.assign(4 * mib, 'x');
  pool.release(busy);
  busy = pool.acquire();  // in flight again, still counted at 4 MiB
  std::vector<send_op*> others;
  for (int i = 0; i < 20; ++i) {
    others.push_back(pool.acquire());
    others.back()->extras().body.assign(mib, 'x');
  }
  for (send_op* op : others) pool.release(op);
  CHECK(pool.retained_bytes() <= send_op_pool::retained_budget);
  pool.release(busy);
  CHECK(pool.retained_bytes() <= send_op_pool::retained_budget);
  CHECK(pool.retained_bytes() >= send_op_pool::retained_budget - mib);
}
