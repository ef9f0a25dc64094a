#include "io/loop.hpp"

#include "common/log.hpp"
#include "io/epoll_reactor.hpp"

#include <asio/detail/thread_context.hpp>
#include <asio/detail/thread_info_base.hpp>
#include <asio/error.hpp>
#include <spdlog/spdlog.h>

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>

namespace rmq::io {

namespace {

// Makes Asio's per-thread recycling allocator (awaitable frames, handlers) work on the loop
// thread, as it does inside io_context::run().
struct loop_thread_context : asio::detail::thread_context {
  using thread_context::thread_call_stack;
};

constexpr unsigned max_remote_per_turn = 4096;

__kernel_timespec to_timespec(clock::duration d) noexcept {
  if (d < clock::duration::zero()) d = clock::duration::zero();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return {static_cast<long long>(ns / 1'000'000'000), static_cast<long long>(ns % 1'000'000'000)};
}

// Held while a ring is mapped or unmapped. liburing does both with raw system calls, so a new
// ring may reuse a closed ring's addresses with no ordering a race detector can see (the closed
// loop may have been joined by a detached shutdown thread); the lock gives it that order.
std::mutex& ring_mapping_mutex() noexcept {
  static std::mutex m;
  return m;
}

}  // namespace

loop::loop(loop_options options) : options_(options) {
  if (options_.cq_entries == 0) options_.cq_entries = options_.sq_entries * 8;
  // Blocking eventfd: io_uring arms a poll for it instead of completing with -EAGAIN.
  event_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::system_error(errno, std::system_category(), "eventfd");
  timers_.reserve(256);
}

loop::~loop() {
  stop();
  if (thread_.joinable()) thread_.join();
  // A poster whose task already ran may still be waking us (a task that destroys the owner of
  // this loop, e.g. a producer destroyed from one of its own handlers).
  while (posters_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  // Services first (as io_context does), then tasks that were posted but never ran.
  shutdown();
  while (task* t = remote_.pop()) t->invoke(task::action::destroy);
  while (task* t = local_.pop_front()) t->invoke(task::action::destroy);
  destroy();
  ::close(event_fd_);
}

void loop::start() {
  if (thread_.joinable()) throw std::logic_error("rmq::io::loop already started");
  // spdlog's registry is built on first use inside libspdlog, which ThreadSanitizer builds do
  // not instrument: build it before the loop threads, which may all log their first connect.
  (void)spdlog::default_logger_raw();
  std::promise<void> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, &ready] {
    bool signalled = false;
    try {
      setup_backend();
      ready.set_value();
      signalled = true;
      run();
    } catch (...) {
      if (!signalled)
        ready.set_exception(std::current_exception());
      else
        throw;  // a handler threw on the loop thread: as fatal as in io_context::run()
    }
  });
  try {
    started.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

namespace {
thread_local loop* current_loop = nullptr;
}

spdlog::logger& loop::logger() const noexcept {
  return log::or_default(options_.logger);
}

loop* loop::current() noexcept {
  return current_loop;
}

void report_handler_exception() noexcept {
  loop* l = loop::current();
  const std::uint64_t n = l != nullptr ? l->note_handler_exception() : 0;
  // Rate-limited: the first ten, then every thousandth, so a handler that always throws cannot
  // flood the log.
  if (n > 10 && n % 1000 != 0) return;
  spdlog::logger& logger = l != nullptr ? l->logger() : log::or_default(nullptr);
  try {
    throw;
  } catch (const std::exception& e) {
    logger.error("rmq: a handler run by the producer's loop threw ({} so far): {}", n, e.what());
  } catch (...) {
    logger.error(
        "rmq: a handler run by the producer's loop threw a non-standard exception "
        "({} so far)",
        n);
  }
}

void loop::run() {
  // The thread-info object gives Asio's recycling allocator its per-thread cache.
  asio::detail::thread_info_base info;
  loop* const outer = std::exchange(current_loop, this);
  static asio::detail::thread_context key;
  loop_thread_context::thread_call_stack::context ctx(&key, info);
  if (!ring_ready_) setup_backend();
  while (!stopping_) run_turn();
  drain_for_stop();
  teardown_backend();
  current_loop = outer;
  loop_thread_.store(std::thread::id{}, std::memory_order_relaxed);
  stopping_ = false;
  stop_requested_.store(false, std::memory_order_relaxed);
  stop_task_posted_.store(false, std::memory_order_release);
}

void loop::stop() noexcept {
  stop_requested_.store(true, std::memory_order_relaxed);
  if (!stop_task_posted_.exchange(true, std::memory_order_acq_rel)) post(stop_task_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    static std::mutex join_mutex;  // two foreign threads may both stop()
    std::lock_guard lock(join_mutex);
    if (thread_.joinable()) thread_.join();
  }
}

void loop::stop_task::run(task* t, task::action a) noexcept {
  if (a == task::action::run) static_cast<stop_task*>(t)->owner.stopping_ = true;
}

namespace {

// Multishot receive (Linux 6.0) is the newest feature the sockets use; with the provided buffer
// rings (5.19) and SUBMIT_ALL (5.18) it is older. "" when the kernel has it.
std::string kernel_too_old() {
  utsname names{};
  if (::uname(&names) != 0) return {};
  unsigned major = 0;
  if (std::sscanf(names.release, "%u.", &major) != 1) return {};
  if (major >= 6) return {};
  return std::string("Linux ") + names.release + " lacks io_uring's multishot receive (6.0+)";
}

// RMQ_IO_BACKEND=epoll|io_uring decides for loops left on automatic (as libuv's
// UV_USE_IO_URING): a deployment, or a test run, can force a backend without rebuilding.
rmq::io_backend backend_from_environment() noexcept {
  const char* value = std::getenv("RMQ_IO_BACKEND");
  if (value == nullptr) return rmq::io_backend::automatic;
  const std::string_view name(value);
  if (name == "epoll") return rmq::io_backend::epoll;
  if (name == "io_uring") return rmq::io_backend::io_uring;
  return rmq::io_backend::automatic;
}

}  // namespace

void loop::setup_backend() {
  const std::lock_guard mapping(ring_mapping_mutex());
  if (options_.backend == rmq::io_backend::automatic) {
    options_.backend = backend_from_environment();
    if (options_.backend == rmq::io_backend::epoll) fallback_reason_ = "RMQ_IO_BACKEND=epoll";
  }
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  const auto fail = [this](int err, const char* what) {
    loop_thread_.store(std::thread::id{}, std::memory_order_relaxed);
    throw std::system_error(err, std::system_category(), what);
  };
  if (options_.backend != rmq::io_backend::epoll) {
    std::string why = kernel_too_old();
    int r = why.empty() ? setup_ring() : -ENOSYS;
    if (why.empty() && r < 0) why = std::string("io_uring_setup: ") + std::strerror(-r);
    if (r == 0) {
      backend_ = rmq::io_backend::io_uring;
      ring_ready_ = true;
      read_clocks();
      arm_eventfd();
      return;
    }
    if (options_.backend == rmq::io_backend::io_uring) {
      fail(-r, r == -ENOSYS && !why.empty() && why.rfind("io_uring_setup", 0) != 0
                   ? why.c_str()
                   : "io_uring_setup");
    }
    fallback_reason_ = std::move(why);
  }
  try {
    setup_epoll();
  } catch (const std::system_error& e) {
    fail(e.code().value(), e.what());
  }
}

int loop::setup_ring() noexcept {
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = options_.cq_entries;
  int r = -EINVAL;
  if (options_.single_issuer) {
    params.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    r = io_uring_queue_init_params(options_.sq_entries, &ring_, &params);
    // Refused outright (seccomp, io_uring_disabled, no io_uring): no flags will help.
    if (r == -EPERM || r == -ENOSYS || r == -EACCES) return r;
    if (r < 0) {
      logger().warn("rmq io: io_uring refused SINGLE_ISSUER|DEFER_TASKRUN ({}); falling back",
                    std::strerror(-r));
      params = {};
      params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
      params.cq_entries = options_.cq_entries;
    }
  }
  if (r < 0) r = io_uring_queue_init_params(options_.sq_entries, &ring_, &params);
  if (r < 0 && r != -EPERM && r != -ENOSYS && r != -EACCES) {
    params = {};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = options_.cq_entries;
    r = io_uring_queue_init_params(options_.sq_entries, &ring_, &params);
  }
  if (r < 0) return r;
  defer_taskrun_.store((params.flags & IORING_SETUP_DEFER_TASKRUN) != 0, std::memory_order_relaxed);
  if (!(params.features & IORING_FEAT_EXT_ARG)) {
    logger().warn("rmq io: kernel lacks IORING_FEAT_EXT_ARG; idle waits cost an extra enter");
  }
  // Registering the ring fd saves an fget/fput per enter; per thread, hence here.
  if (int rr = io_uring_register_ring_fd(&ring_); rr < 0) {
    logger().warn("rmq io: io_uring_register_ring_fd failed ({})", std::strerror(-rr));
  }
  return 0;
}

void loop::setup_epoll() {
  reactor_ = std::make_unique<epoll_reactor>(event_fd_, logger());
  backend_ = rmq::io_backend::epoll;
  ring_ready_ = true;
  read_clocks();
}

void loop::read_clocks() noexcept {
  now_ = clock::now();
  wall_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
}

void loop::teardown_backend() noexcept {
  pools_.clear();
  default_pool_ = nullptr;
  if (reactor_ != nullptr) {
    reactor_.reset();
  } else {
    const std::lock_guard mapping(ring_mapping_mutex());
    io_uring_queue_exit(&ring_);
  }
  ring_ = {};
  ring_ready_ = false;
}

void loop::arm_eventfd() noexcept {
  io_uring_sqe* sqe = get_sqe(&eventfd_reader_);
  io_uring_prep_read(sqe, event_fd_, &eventfd_reader_.value, sizeof eventfd_reader_.value, 0);
}

void loop::eventfd_reader::on_cqe(cqe_handler* c, int, unsigned) noexcept {
  auto* self = static_cast<eventfd_reader*>(c);
  // The read consumed the counter; arm the next one for the following sleep.
  if (!self->owner.stopping_) self->owner.arm_eventfd();
}

void loop::close() noexcept {
  closed_.store(true, std::memory_order_seq_cst);
  destroy_posted_after_close();
  while (task* t = local_.pop_front()) t->invoke(task::action::destroy);
}

void loop::destroy_posted_after_close() noexcept {
  std::lock_guard lock(close_mutex_);
  // A poster may sit between its exchange and its link: wait for the link, it is a few
  // instructions away.
  while (remote_.maybe_nonempty()) {
    if (task* t = remote_.pop()) {
      t->invoke(task::action::destroy);
    } else {
      std::this_thread::yield();
    }
  }
}

void loop::post(task& node) noexcept {
  // Counted while inside: the task may run, and destroy whatever owns this loop, before we are
  // done with the wake-up below; ~loop() waits for us first.
  posters_.fetch_add(1, std::memory_order_acq_rel);
  struct leave {
    std::atomic<std::uint32_t>& count;
    ~leave() { count.fetch_sub(1, std::memory_order_acq_rel); }
  } const in_post{posters_};
  remote_.push(&node);
  // Dekker with close(): either close() sees this node, or we see closed_ and drain it here.
  if (closed_.load(std::memory_order_seq_cst)) [[unlikely]] {
    destroy_posted_after_close();
    return;
  }
  // Only the poster that flips the flag writes, and only while the loop sleeps in the kernel.
  if (sleeping_.load(std::memory_order_seq_cst) &&
      sleeping_.exchange(false, std::memory_order_acq_rel)) {
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
  }
}

io_uring_sqe* loop::get_sqe(cqe_handler* c) noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // SQ full mid-turn: flush it (an extra enter, counted) rather than fail the operation.
    io_uring_submit(&ring_);
    enters_.bump();
    sq_flushes_.bump();
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data(sqe, c);
  if (c != nullptr) ++in_flight_;
  return sqe;
}

void loop::reserve_sqes(unsigned n) noexcept {
  if (io_uring_sq_space_left(&ring_) < n) {
    io_uring_submit(&ring_);
    enters_.bump();
    sq_flushes_.bump();
  }
}

void loop::run_turn() {
  turns_.bump();
  if (run_ready() != 0) last_active_ = now_;
  bool idle = local_.empty() && !stopping_ && !keep_polling() &&
              (reactor_ == nullptr || !reactor_->has_completions());
  if (idle) {
    // Dekker with post(): publish "asleep", then look at the queue once more. A poster either
    // pushed before our look (we see it and stay awake) or sees the flag and writes the eventfd.
    sleeping_.store(true, std::memory_order_seq_cst);
    if (remote_.maybe_nonempty()) {
      sleeping_.store(false, std::memory_order_relaxed);
      idle = false;
    }
  }
  enter(idle ? wait::until_completion : wait::no);
  if (idle) sleeping_.store(false, std::memory_order_relaxed);
  read_clocks();
  if (reap() != 0) last_active_ = now_;
}

bool loop::keep_polling() const noexcept {
  return options_.busy_poll.count() > 0 && now_ - last_active_ < options_.busy_poll;
}

std::size_t loop::run_ready() noexcept {
  std::size_t n = 0;
  // Only the tasks queued before this point: a task that defers itself runs next turn, after
  // the enter, so I/O is never starved.
  task_list batch = std::exchange(local_, task_list{});
  while (task* t = batch.pop_front()) {
    t->invoke(task::action::run);
    ++n;
  }
  for (unsigned i = 0; i < max_remote_per_turn; ++i) {
    task* t = remote_.pop();
    if (t == nullptr) break;
    t->invoke(task::action::run);
    ++n;
  }
  if (!timers_.empty()) {
    now_ = clock::now();  // a timer's callback sees a loop time at or past its deadline
    run_timers(now_);
  }
  tasks_.bump(n);
  return n;
}

void loop::enter(wait mode) noexcept {
  enters_.bump();
  if (reactor_ != nullptr) {
    timespec ts{};
    const timespec* timeout = &ts;  // wait::no: a poll
    if (mode == wait::until_completion) {
      if (timers_.empty()) {
        timeout = nullptr;
      } else {
        const __kernel_timespec k = to_timespec(timers_.front()->deadline_ - clock::now());
        ts = {static_cast<time_t>(k.tv_sec), static_cast<long>(k.tv_nsec)};
      }
    }
    reactor_->wait(timeout);
    return;
  }
  int r;
  if (mode == wait::no) {
    // Always one enter with GETEVENTS: submits and runs deferred task work without waiting.
    r = io_uring_submit_and_get_events(&ring_);
  } else if (timers_.empty()) {
    // Nothing but I/O and posts (the eventfd read) can wake us: wait with no kernel timer.
    r = io_uring_submit_and_wait(&ring_, 1);
  } else {
    // One enter (EXT_ARG): submit, then wait for one CQE or the next timer.
    __kernel_timespec ts = to_timespec(timers_.front()->deadline_ - clock::now());
    io_uring_cqe* cqe = nullptr;
    r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
    logger().error("rmq io: io_uring_enter failed: {}", std::strerror(-r));
  }
}

void loop::complete(cqe_handler* c, int res, unsigned flags) noexcept {
  reactor_->complete(c, res, flags);
}

unsigned loop::dispatch_completions() noexcept {
  auto& batch = reactor_->take_completions();
  for (const epoll_reactor::completion& done : batch) {
    if (!(done.flags & IORING_CQE_F_MORE)) --in_flight_;
    done.handler->on_cqe_(done.handler, done.res, done.flags);
  }
  const auto n = static_cast<unsigned>(batch.size());
  cqes_.bump(n);
  return n;
}

unsigned loop::reap() noexcept {
  if (reactor_ != nullptr) return dispatch_completions();
  unsigned head;
  unsigned n = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++n;
    auto* c = static_cast<cqe_handler*>(io_uring_cqe_get_data(cqe));
    if (c == nullptr) continue;
    const int res = cqe->res;
    const unsigned flags = cqe->flags;
    if (!(flags & IORING_CQE_F_MORE)) --in_flight_;
    c->on_cqe_(c, res, flags);
  }
  // One CQ head store for the whole batch.
  if (n != 0) {
    io_uring_cq_advance(&ring_, n);
    cqes_.bump(n);
  }
  return n;
}

void loop::drain_for_stop() {
  stopping_ = true;
  // Keep cancelling until nothing is in flight: handlers that react to operation_aborted may
  // start new operations, which the next round cancels.
  for (;;) {
    // Receives parked on an empty buffer ring have nothing in the kernel to cancel.
    for (auto& pool : pools_) pool->wake_waiters();
    abort_timers();
    if (in_flight_ != 0 && reactor_ != nullptr) {
      reactor_->stop_all();  // queues operation_aborted for every pending socket operation
    } else if (in_flight_ != 0) {
      io_uring_sqe* sqe = get_sqe(nullptr);
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    }
    run_ready();
    if (in_flight_ == 0 && local_.empty() && !remote_.maybe_nonempty() && timers_.empty()) break;
    turns_.bump();
    const bool idle = local_.empty() && !remote_.maybe_nonempty() &&
                      (reactor_ == nullptr || !reactor_->has_completions());
    if (idle) {
      // Bounded wait, in case a cancelled operation is slow to answer.
      timer_node guard(+[](timer_node*, std::error_code) noexcept {});
      add_timer(guard, clock::now() + std::chrono::milliseconds(100));
      enter(wait::until_completion);
      cancel_timer(guard);
    } else {
      enter(wait::no);
    }
    read_clocks();
    reap();
  }
}

// ---- timers: indexed min-heap of intrusive nodes, ordered by (deadline, arming order) ------

void loop::disarm(timer_node& node) noexcept {
  timers_.remove(node.index_);
  node.index_ = timer_node::not_armed;
}

void loop::add_timer(timer_node& node, clock::time_point deadline) noexcept {
  if (node.armed()) disarm(node);
  node.deadline_ = deadline;
  node.seq_ = timer_seq_++;
  timers_.push(&node);  // amortised: the heap only grows, nodes are never allocated
}

bool loop::cancel_timer(timer_node& node) noexcept {
  if (!node.armed()) return false;
  disarm(node);
  return true;
}

void loop::run_timers(clock::time_point now) noexcept {
  // Bounded by the count at entry, so a timer re-armed in the past cannot spin this loop.
  for (std::size_t budget = timers_.size(); budget != 0 && !timers_.empty(); --budget) {
    timer_node* top = timers_.front();
    if (top->deadline_ > now) break;
    disarm(*top);
    top->fn_(top, std::error_code{});
  }
}

void loop::abort_timers() noexcept {
  while (!timers_.empty()) {
    timer_node* top = timers_.front();
    disarm(*top);
    top->fn_(top, asio::error::operation_aborted);
  }
}

loop_counters loop::counters() const noexcept {
  loop_counters c;
  c.turns = turns_.get();
  c.enters = enters_.get();
  c.cqes = cqes_.get();
  c.tasks = tasks_.get();
  c.sq_flushes = sq_flushes_.get();
  c.handler_exceptions = handler_exceptions_.get();
  c.wakeups = wakeups_.load(std::memory_order_relaxed);
  return c;
}

// ---- buffer pools -----------------------------------------------------------------------

buffer_pool& loop::default_buffer_pool() {
  if (default_pool_ == nullptr) {
    default_pool_ = &make_buffer_pool(options_.buffer_count, options_.buffer_size);
  }
  return *default_pool_;
}

buffer_pool& loop::make_buffer_pool(unsigned count, unsigned size) {
  const auto group = static_cast<std::uint16_t>(pools_.size());
  pools_.push_back(std::make_unique<buffer_pool>(*this, group, count, size));
  return *pools_.back();
}

buffer_pool::buffer_pool(loop& owner, std::uint16_t group, unsigned count, unsigned size)
    : loop_(owner), group_(group), count_(count), size_(size), available_(count) {
  if (count == 0 || count > 32768 || (count & (count - 1)) != 0 || size == 0) {
    throw std::invalid_argument("buffer_pool: count must be a power of two in [1, 32768]");
  }
  data_ = new char[static_cast<std::size_t>(count) * size];
  if (owner.uses_epoll()) {
    // The socket picks a buffer itself: a stack of free ids, lowest on top.
    free_.reserve(count);
    for (unsigned i = count; i != 0; --i) free_.push_back(static_cast<std::uint16_t>(i - 1));
    return;
  }
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  ring_bytes_ = (count * sizeof(io_uring_buf) + page - 1) / page * page;
  // The kernel requires the ring page-aligned.
  void* mem =
      ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    delete[] data_;
    throw std::system_error(errno, std::system_category(), "mmap");
  }
  ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_);
  reg.ring_entries = count;
  reg.bgid = group;
  if (int r = io_uring_register_buf_ring(loop_.ring(), &reg, 0); r < 0) {
    ::munmap(ring_, ring_bytes_);
    delete[] data_;
    throw std::system_error(-r, std::system_category(), "io_uring_register_buf_ring");
  }
  registered_ = true;
  io_uring_buf_ring_init(ring_);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(ring_, data_ + static_cast<std::size_t>(i) * size, size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(ring_, static_cast<int>(count));
}

buffer_pool::~buffer_pool() {
  if (registered_) io_uring_unregister_buf_ring(loop_.ring(), group_);
  if (ring_ != nullptr) ::munmap(ring_, ring_bytes_);
  delete[] data_;
}

void buffer_pool::release(std::uint16_t id) noexcept {
  if (ring_ != nullptr) {
    io_uring_buf_ring_add(ring_, data_ + static_cast<std::size_t>(id) * size_, size_, id,
                          io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(ring_, 1);
  } else {
    free_.push_back(id);
  }
  ++available_;
  wake_waiters();
}

void buffer_pool::wake_waiters() noexcept {
  waiter* w = std::exchange(waiters_, nullptr);
  while (w != nullptr) {
    waiter* next = std::exchange(w->next_, nullptr);
    w->queued_ = false;
    w->fn_(w);
    w = next;
  }
}

void buffer_pool::wait_for_buffers(waiter& w) noexcept {
  if (w.queued_) return;
  w.queued_ = true;
  w.next_ = waiters_;
  waiters_ = &w;
}

void buffer_pool::cancel_wait(waiter& w) noexcept {
  if (!w.queued_) return;
  for (waiter** p = &waiters_; *p != nullptr; p = &(*p)->next_) {
    if (*p == &w) {
      *p = w.next_;
      break;
    }
  }
  w.next_ = nullptr;
  w.queued_ = false;
}

}  // namespace rmq::io

namespace rmq {

std::string_view to_string(io_backend backend) noexcept {
  switch (backend) {
    case io_backend::automatic:
      return "automatic";
    case io_backend::io_uring:
      return "io_uring";
    case io_backend::epoll:
      return "epoll";
  }
  return "unknown";
}

}  // namespace rmq
