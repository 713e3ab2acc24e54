// Runs one piece of llama.cpp work on a thread of its own and waits for it.
//
// Why: ggml's CPU backend built with OpenMP runs parallel regions on OpenMP teams, and libgomp
// keeps each team for as long as the thread that started it lives. Loading a model starts one on
// AMX machines (the AMX buffer converts weights in `#pragma omp parallel`), and a libuv worker
// lives as long as the process, so the team would stay docked for good. libgomp counts docked
// threads: with more of them than CPUs it cuts every barrier's spin from 300,000 to 1,000
// iterations, and each of the ~250 barriers ggml passes per generated token then sleeps in the
// kernel. On a 2-core AMX machine that cost generation 45% (30 vs 55 tokens/s, 250 futex sleeps a
// token against llama-bench's none). A thread that ends takes its team with it.
#pragma once
#include <exception>
#include <system_error>
#include <thread>
#include <utility>

namespace llama_napi {

// Calls `work()` on a new thread and joins it; an exception it throws is rethrown here. When no
// thread can be made (a process at its thread or address-space limit), runs it on this thread:
// slower later, never a failure.
template <typename Work>
void RunOnOwnThread(Work&& work) {
  std::exception_ptr failure;
  std::thread thread;
  try {
    thread = std::thread([&] {
      try {
        work();
      } catch (...) {
        failure = std::current_exception();
      }
    });
  } catch (const std::system_error&) {
    work();
    return;
  }
  thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace llama_napi
