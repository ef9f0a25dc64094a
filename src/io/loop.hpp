// The event loop: one per loop thread, on io_uring or, where io_uring cannot run, on epoll
// (loop_options::backend; io/epoll_reactor.hpp). An intrusive cross-thread task queue woken
// through an eventfd, an intrusive timer heap, provided-buffer pools, and an Asio executor
// (loop::executor_type, convertible to asio::any_io_executor) — the same for both backends.
//
// Thread rules. Everything documented "loop thread" may only be called from the thread inside
// run() (which start() creates): the ring is created there with IORING_SETUP_SINGLE_ISSUER, so
// no other thread may submit. Any thread may call post(), stop(), get_executor(), counters().
//
// A turn: run the tasks queued before the turn began, the tasks other threads posted and the
// expired timers; then exactly one kernel wait. On io_uring, one io_uring_enter that submits
// every SQE prepared during the turn and reaps completions (io_uring_submit_and_get_events while
// work is ready, or io_uring_submit_and_wait_timeout(1, next timer) when idle); on epoll, one
// epoll_pwait2 whose ready descriptors do their system calls. Then dispatch every completion.
#pragma once

#include "common/indexed_heap.hpp"
#include "io/task.hpp"
#include "rmq/io_backend.hpp"

#include <asio/execution.hpp>
#include <asio/execution_context.hpp>
#include <asio/recycling_allocator.hpp>
#include <liburing.h>
#include <spdlog/fwd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace rmq::io {

using clock = std::chrono::steady_clock;

class loop;
class buffer_pool;
class epoll_reactor;

/// The target of a CQE: an SQE's user_data points at one of these (0 means "ignore the CQE").
/// `on_cqe_` runs on the loop thread for every CQE of that SQE; the one without
/// IORING_CQE_F_MORE is the last, after which the loop never touches the object again.
struct cqe_handler {
  using fn_type = void (*)(cqe_handler*, int res, unsigned flags) noexcept;
  explicit cqe_handler(fn_type fn) noexcept : on_cqe_(fn) {}
  fn_type on_cqe_;
};

/// An intrusive timer: lives in the loop's heap while armed, owned by the caller. `fn_` is
/// called once per arming, on the loop thread: with an empty error when the deadline passes,
/// or with asio::error::operation_aborted when the loop stops. loop::cancel_timer() disarms it
/// silently (the caller completes its own operation).
struct timer_node {
  using fn_type = void (*)(timer_node*, std::error_code) noexcept;
  static constexpr std::size_t not_armed = static_cast<std::size_t>(-1);

  explicit timer_node(fn_type fn) noexcept : fn_(fn) {}
  timer_node(const timer_node&) = delete;
  timer_node& operator=(const timer_node&) = delete;

  [[nodiscard]] bool armed() const noexcept { return index_ != not_armed; }
  [[nodiscard]] clock::time_point deadline() const noexcept { return deadline_; }

  clock::time_point deadline_{};
  std::uint64_t seq_ = 0;  // ties broken by arming order, so equal deadlines fire in order
  std::size_t index_ = not_armed;
  fn_type fn_;
};

/// The loop's timer order: (deadline, arming order); positions kept in timer_node::index_.
struct timer_order {
  [[nodiscard]] bool before(const timer_node* a, const timer_node* b) const noexcept {
    return a->deadline_ < b->deadline_ || (a->deadline_ == b->deadline_ && a->seq_ < b->seq_);
  }
  void moved(timer_node* node, std::size_t position) const noexcept { node->index_ = position; }
};

struct loop_options {
  unsigned sq_entries = 1024;
  unsigned cq_entries = 0;           ///< 0: 8 × sq_entries (multishot recv fans out)
  unsigned buffer_count = 64;        ///< default receive pool: buffers (power of two)
  unsigned buffer_size = 64 * 1024;  ///< default receive pool: bytes per buffer
  bool single_issuer = true;         ///< try SINGLE_ISSUER | DEFER_TASKRUN first
  /// Keep polling the ring, without sleeping, for this long after the last completion or task
  /// (as Seastar's idle poll). Trades a busy core for no sleep/wake-up per burst. 0: sleep at once.
  std::chrono::microseconds busy_poll{0};
  /// automatic: io_uring when a ring with every feature the sockets use can be set up, else
  /// epoll (loop::fallback_reason() says why); io_uring: start() throws when it cannot.
  rmq::io_backend backend = rmq::io_backend::automatic;
  /// Where the loop logs (not owned: it outlives the loop); nullptr: spdlog's default logger.
  spdlog::logger* logger = nullptr;
};

/// Monotonic counters, readable from any thread (relaxed).
struct loop_counters {
  std::uint64_t turns = 0;       ///< loop iterations
  std::uint64_t enters = 0;      ///< io_uring_enter (or epoll_pwait2) calls made by the loop
  std::uint64_t cqes = 0;        ///< completions dispatched
  std::uint64_t wakeups = 0;     ///< eventfd writes by posting threads
  std::uint64_t tasks = 0;       ///< tasks run
  std::uint64_t sq_flushes = 0;  ///< extra enters because the SQ filled up mid-turn
  std::uint64_t handler_exceptions = 0;  ///< functions run by the loop that threw (caught)
};

/// Called from a catch block around a function the loop ran for a user (a posted function, a
/// handler run inline by the executor, a completion): counts it on the loop running on this
/// thread and logs it, rate-limited. The loop keeps running.
void report_handler_exception() noexcept;

namespace detail {
/// Counter written by one thread, read by any: plain load/store, no RMW on the hot path.
struct counter {
  std::atomic<std::uint64_t> value{0};
  void bump(std::uint64_t n = 1) noexcept {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};
}  // namespace detail

class loop : public asio::execution_context {
 public:
  class executor_type;

  explicit loop(loop_options options = {});
  /// Stops the loop (if running, completing every pending operation), joins its thread, and
  /// destroys tasks that were posted but never run.
  ~loop();
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  /// Spawns the loop thread and returns once its backend is set up; throws std::system_error
  /// when it cannot be (io_uring forced but unavailable, or no epoll set / eventfd).
  void start();
  /// Runs the loop on the calling thread until stop(). The ring is created on entry and torn
  /// down on exit, after every pending operation has completed (operation_aborted).
  void run();
  /// Any thread. Asks the loop to stop; from a foreign thread also joins the thread start()
  /// created. Idempotent.
  void stop() noexcept;
  /// Any thread but the loop's, once it has stopped for good: destroys every task still queued
  /// (action::destroy), and every task posted from now on is destroyed at once instead of
  /// waiting for a run that will never come.
  void close() noexcept;
  /// The loop whose run() is on this thread's stack, or nullptr.
  [[nodiscard]] static loop* current() noexcept;

  [[nodiscard]] executor_type get_executor() noexcept;
  [[nodiscard]] bool running_in_this_thread() const noexcept;

  /// Any thread, never blocks, never allocates: the node runs on the loop in FIFO order with
  /// other posts. Wakes the loop through its eventfd only if the loop is asleep in the kernel.
  void post(task& node) noexcept;
  /// Any thread; allocates (recycling allocator). For paths that are not hot.
  template <typename F>
  requires(!std::is_base_of_v<task, std::decay_t<F>>) void post(F&& f);

  // ---- loop thread only -------------------------------------------------------------------
  /// Queue a task for the next turn without touching the cross-thread queue.
  void defer(task& node) noexcept { local_.push_back(&node); }
  /// The backend this loop runs on (io_uring or epoll), once it has started.
  [[nodiscard]] rmq::io_backend backend() const noexcept { return backend_; }
  /// Why an automatic loop runs on epoll ("" when it runs on io_uring or epoll was asked for).
  [[nodiscard]] const std::string& fallback_reason() const noexcept { return fallback_reason_; }
  [[nodiscard]] bool uses_epoll() const noexcept { return reactor_ != nullptr; }

  // ---- io_uring backend, loop thread only ---------------------------------------------------
  /// An SQE whose user_data is `c` (nullptr: CQEs are ignored). Must be prepared before the
  /// turn ends; it is submitted with the turn's single enter. Counts `c` as in flight until its
  /// final CQE, so that stopping can wait for it.
  [[nodiscard]] io_uring_sqe* get_sqe(cqe_handler* c) noexcept;
  /// Makes room for `n` SQEs that must go out in the same submission (a linked chain).
  void reserve_sqes(unsigned n) noexcept;
  [[nodiscard]] io_uring* ring() noexcept { return &ring_; }

  // ---- epoll backend, loop thread only -------------------------------------------------------
  [[nodiscard]] epoll_reactor& reactor() noexcept { return *reactor_; }
  /// An operation has started whose completion will come through complete(): counted as in
  /// flight until then, as an SQE is, so that stopping waits for it.
  void begin_op() noexcept { ++in_flight_; }
  /// Queues the completion of an operation begun with begin_op() (res: result or -errno, as a
  /// CQE's); it runs after this turn's wait, never inside the caller.
  void complete(cqe_handler* c, int res, unsigned flags = 0) noexcept;

  // ---- both backends, loop thread only ------------------------------------------------------
  void add_timer(timer_node& node, clock::time_point deadline) noexcept;
  /// Disarms `node`; false when it was not armed (already fired or never armed).
  bool cancel_timer(timer_node& node) noexcept;
  /// The loop's receive pool (loop_options sizes), created on first use.
  [[nodiscard]] buffer_pool& default_buffer_pool();
  /// A further pool with its own buffer group; lives until the end of this run().
  [[nodiscard]] buffer_pool& make_buffer_pool(unsigned count, unsigned size);
  /// The loop's clock, as libuv's uv_now(): read when the kernel hands back a turn's
  /// completions and when timers are checked, so that the many sends of a busy turn share one
  /// reading. Behind the real clock by at most the work done since; for deadlines and latencies
  /// in milliseconds, not for timing one operation.
  [[nodiscard]] clock::time_point now() const noexcept { return now_; }
  /// The wall clock, in milliseconds since the epoch, read with now() after each enter
  /// (message timestamps).
  [[nodiscard]] std::int64_t wall_ms() const noexcept { return wall_ms_; }
  /// True once stop() was seen by the loop: new operations are cancelled promptly.
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
  /// Loop thread: counts one more function that threw (report_handler_exception).
  std::uint64_t note_handler_exception() noexcept {
    handler_exceptions_.bump();
    return handler_exceptions_.get();
  }

  // ---- any thread -------------------------------------------------------------------------
  [[nodiscard]] loop_counters counters() const noexcept;
  /// Whether the ring got SINGLE_ISSUER | DEFER_TASKRUN (valid once the loop has started).
  [[nodiscard]] bool defer_taskrun() const noexcept {
    return defer_taskrun_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] const loop_options& options() const noexcept { return options_; }
  /// Where the loop logs: loop_options::logger, or spdlog's default logger.
  [[nodiscard]] spdlog::logger& logger() const noexcept;

 private:
  template <typename F>
  struct function_task;
  struct eventfd_reader final : cqe_handler {
    explicit eventfd_reader(loop& l) noexcept : cqe_handler(&on_cqe), owner(l) {}
    static void on_cqe(cqe_handler* c, int res, unsigned flags) noexcept;
    loop& owner;
    std::uint64_t value = 0;
  };

  /// Sets up the backend options_.backend asks for, on the loop thread.
  void setup_backend();
  /// io_uring_queue_init_params with the flags we prefer, then fallbacks: 0 or -errno.
  int setup_ring() noexcept;
  void setup_epoll();
  void teardown_backend() noexcept;
  /// Dispatches the epoll backend's queued completions; returns how many.
  unsigned dispatch_completions() noexcept;
  void arm_eventfd() noexcept;
  /// Once closed: destroys every posted task, under close_mutex_ (the queue's one consumer).
  void destroy_posted_after_close() noexcept;
  void run_turn();
  void drain_for_stop();
  std::size_t run_ready() noexcept;
  [[nodiscard]] bool keep_polling() const noexcept;
  void run_timers(clock::time_point now) noexcept;
  void abort_timers() noexcept;
  /// Whether an enter may sleep in the kernel until a completion arrives.
  enum class wait : bool { no, until_completion };
  void enter(wait mode) noexcept;
  unsigned reap() noexcept;
  void disarm(timer_node& node) noexcept;
  void read_clocks() noexcept;
  struct stop_task final : task {
    explicit stop_task(loop& l) noexcept : task(&run), owner(l) {}
    static void run(task* t, action a) noexcept;
    loop& owner;
  };

  loop_options options_;
  io_uring ring_{};
  bool ring_ready_ = false;  // the backend (ring or epoll set) is up
  rmq::io_backend backend_ = rmq::io_backend::io_uring;
  std::string fallback_reason_;
  std::unique_ptr<epoll_reactor> reactor_;  // set: the loop runs on epoll
  bool stopping_ = false;
  std::atomic<bool> defer_taskrun_{false};
  int event_fd_ = -1;
  std::size_t in_flight_ = 0;
  clock::time_point now_{};
  clock::time_point last_active_{};  ///< the last turn that ran a task or a completion
  std::int64_t wall_ms_ = 0;
  eventfd_reader eventfd_reader_{*this};

  mpsc_queue remote_;
  task_list local_;
  // The loop sets this before a blocking enter; a poster that finds it set (and clears it)
  // writes the eventfd. Cleared by the loop after every enter.
  alignas(64) std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> closed_{false};        // close(): posts destroy their task at once
  std::atomic<std::uint32_t> posters_{0};  // threads inside post(task&)
  std::mutex close_mutex_;                 // the consumer of remote_ once closed
  std::atomic<bool> stop_task_posted_{false};
  stop_task stop_task_{*this};
  std::atomic<std::thread::id> loop_thread_{};
  std::thread thread_;

  indexed_heap<timer_node*, timer_order> timers_;
  std::uint64_t timer_seq_ = 0;

  std::vector<std::unique_ptr<buffer_pool>> pools_;
  buffer_pool* default_pool_ = nullptr;

  detail::counter turns_, enters_, cqes_, tasks_, sq_flushes_, handler_exceptions_;
  std::atomic<std::uint64_t> wakeups_{0};
};

template <typename F>
struct loop::function_task final : task {
  using allocator_type = asio::recycling_allocator<function_task>;
  explicit function_task(F&& f) : task(&invoke_fn), fn(std::move(f)) {}
  static void invoke_fn(task* t, action a) noexcept {
    auto* self = static_cast<function_task*>(t);
    F local(std::move(self->fn));
    allocator_type alloc;
    self->~function_task();
    alloc.deallocate(self, 1);
    if (a != action::run) return;
    try {
      std::move(local)();
    } catch (...) {
      report_handler_exception();  // a user's function threw: the loop goes on
    }
  }
  F fn;
};

template <typename F>
requires(!std::is_base_of_v<task, std::decay_t<F>>) void loop::post(F&& f) {
  using task_type = function_task<std::decay_t<F>>;
  typename task_type::allocator_type alloc;
  task_type* t = alloc.allocate(1);
  try {
    new (t) task_type(std::decay_t<F>(std::forward<F>(f)));
  } catch (...) {
    alloc.deallocate(t, 1);
    throw;
  }
  post(static_cast<task&>(*t));
}

/// The loop's Asio executor. With blocking.possibly (the default) execute() runs the function
/// inline when called on the loop thread; with blocking.never it always queues it. Outstanding
/// work is not counted: a loop runs until stop(), not until it runs out of work.
class loop::executor_type {
 public:
  /// How execute() treats a call on the loop thread: run inline, or always queue.
  enum class blocking : bool { possibly, never };
  /// Whether the submitted function continues the caller (Asio's relationship property).
  enum class relation : bool { fork, continuation };

  explicit executor_type(loop& owner, blocking b = blocking::possibly,
                         relation r = relation::fork) noexcept
      : loop_(&owner), blocking_(b), relation_(r) {}

  [[nodiscard]] loop& query(asio::execution::context_t) const noexcept { return *loop_; }
  [[nodiscard]] static constexpr asio::execution::mapping_t query(
      asio::execution::mapping_t) noexcept {
    return asio::execution::mapping.thread;
  }
  [[nodiscard]] constexpr asio::execution::blocking_t query(
      asio::execution::blocking_t) const noexcept {
    return blocking_ == blocking::never
               ? asio::execution::blocking_t(asio::execution::blocking.never)
               : asio::execution::blocking_t(asio::execution::blocking.possibly);
  }
  [[nodiscard]] constexpr asio::execution::relationship_t query(
      asio::execution::relationship_t) const noexcept {
    return relation_ == relation::continuation
               ? asio::execution::relationship_t(asio::execution::relationship.continuation)
               : asio::execution::relationship_t(asio::execution::relationship.fork);
  }
  [[nodiscard]] static constexpr asio::execution::outstanding_work_t query(
      asio::execution::outstanding_work_t) noexcept {
    return asio::execution::outstanding_work.untracked;
  }

  [[nodiscard]] executor_type require(asio::execution::blocking_t::never_t) const noexcept {
    return executor_type(*loop_, blocking::never, relation_);
  }
  [[nodiscard]] executor_type require(asio::execution::blocking_t::possibly_t) const noexcept {
    return executor_type(*loop_, blocking::possibly, relation_);
  }
  [[nodiscard]] executor_type require(asio::execution::relationship_t::fork_t) const noexcept {
    return executor_type(*loop_, blocking_, relation::fork);
  }
  [[nodiscard]] executor_type require(
      asio::execution::relationship_t::continuation_t) const noexcept {
    return executor_type(*loop_, blocking_, relation::continuation);
  }
  // Work tracking is meaningless for a loop that runs until stop(): accepted, ignored.
  [[nodiscard]] executor_type prefer(
      asio::execution::outstanding_work_t::tracked_t) const noexcept {
    return *this;
  }
  [[nodiscard]] executor_type prefer(
      asio::execution::outstanding_work_t::untracked_t) const noexcept {
    return *this;
  }

  template <typename F>
  void execute(F&& f) const {
    if (blocking_ == blocking::possibly && loop_->running_in_this_thread()) {
      std::decay_t<F> local(std::forward<F>(f));
      try {
        std::move(local)();
      } catch (...) {
        report_handler_exception();  // a user's function threw: the loop goes on
      }
      return;
    }
    loop_->post(std::forward<F>(f));
  }

  [[nodiscard]] bool running_in_this_thread() const noexcept {
    return loop_->running_in_this_thread();
  }
  [[nodiscard]] loop& context() const noexcept { return *loop_; }

  friend bool operator==(const executor_type& a, const executor_type& b) noexcept {
    return a.loop_ == b.loop_ && a.blocking_ == b.blocking_ && a.relation_ == b.relation_;
  }
  friend bool operator!=(const executor_type& a, const executor_type& b) noexcept {
    return !(a == b);
  }

 private:
  loop* loop_;
  blocking blocking_;
  relation relation_;
};

inline loop::executor_type loop::get_executor() noexcept {
  return executor_type(*this);
}

inline bool loop::running_in_this_thread() const noexcept {
  return loop_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

static_assert(asio::execution::is_executor<loop::executor_type>::value);

namespace detail {
template <class Member>
struct member_owner;
template <class Owner, class... Args>
struct member_owner<void (Owner::*)(Args...) noexcept> {
  using type = Owner;
};
template <class Owner, class... Args>
struct member_owner<void (Owner::*)(Args...)> {
  using type = Owner;
};
}  // namespace detail

/// The state of an operation (a timer_node, or a socket's connect_op, write_op, close_op) that
/// completes by calling a member function of its owner with the operation's results:
/// `io::member_op<io::write_op, &channel::on_written> write_op_{*this};` calls
/// `on_written(ec, bytes)`. Nothing is allocated or type-erased.
template <class Op, auto OnDone>
struct member_op final : Op {
  using owner_type = typename detail::member_owner<decltype(OnDone)>::type;
  explicit member_op(owner_type& o) noexcept : Op(&done), owner(o) {}
  template <class... Args>
  static void done(Op* op, Args... args) noexcept {
    (static_cast<member_op*>(op)->owner.*OnDone)(args...);
  }
  owner_type& owner;
};

/// A provided-buffer ring (IORING_REGISTER_PBUF_RING) with its own buffer group: `count`
/// buffers of `size` bytes. The kernel picks a buffer per received chunk; the receiver hands
/// it back with release(). On the epoll backend the socket picks the buffer (take_free()) and
/// there is no ring. Loop thread only; owned by the loop, alive for one run().
class buffer_pool {
 public:
  /// Something waiting for buffers to come back (a receive that ended with -ENOBUFS).
  struct waiter {
    using fn_type = void (*)(waiter*) noexcept;
    explicit waiter(fn_type fn) noexcept : fn_(fn) {}
    fn_type fn_;
    waiter* next_ = nullptr;
    bool queued_ = false;
  };

  buffer_pool(loop& owner, std::uint16_t group, unsigned count, unsigned size);
  ~buffer_pool();
  buffer_pool(const buffer_pool&) = delete;
  buffer_pool& operator=(const buffer_pool&) = delete;

  [[nodiscard]] std::uint16_t group() const noexcept { return group_; }
  [[nodiscard]] unsigned count() const noexcept { return count_; }
  [[nodiscard]] unsigned buffer_size() const noexcept { return size_; }
  [[nodiscard]] unsigned available() const noexcept { return available_; }
  [[nodiscard]] std::string_view view(std::uint16_t id, std::size_t length) const noexcept {
    return {data_ + static_cast<std::size_t>(id) * size_, length};
  }
  /// A buffer the kernel filled, once the receiver is done with it. Wakes waiters.
  void release(std::uint16_t id) noexcept;
  /// epoll backend: a free buffer for the socket to read into, or -1 when none is.
  [[nodiscard]] int take_free() noexcept {
    if (free_.empty()) return -1;
    const std::uint16_t id = free_.back();
    free_.pop_back();
    return id;
  }
  /// epoll backend: gives back a buffer take_free() returned that received nothing.
  void put_back(std::uint16_t id) noexcept { free_.push_back(id); }
  [[nodiscard]] char* buffer(std::uint16_t id) noexcept {
    return data_ + static_cast<std::size_t>(id) * size_;
  }
  /// Called when the kernel reported this group empty; `w` runs after the next release.
  void wait_for_buffers(waiter& w) noexcept;
  void cancel_wait(waiter& w) noexcept;
  /// The kernel handed out a buffer (bookkeeping only).
  void note_taken() noexcept { --available_; }
  /// Runs every waiter now (the loop is stopping: waiting receives must end).
  void wake_waiters() noexcept;

 private:
  loop& loop_;
  std::uint16_t group_;
  unsigned count_;
  unsigned size_;
  unsigned available_;
  io_uring_buf_ring* ring_ = nullptr;
  std::size_t ring_bytes_ = 0;
  char* data_ = nullptr;
  std::vector<std::uint16_t> free_;  // epoll backend: buffers not handed out
  waiter* waiters_ = nullptr;
  bool registered_ = false;
};

}  // namespace rmq::io
