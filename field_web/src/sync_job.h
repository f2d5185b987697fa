// A sync started from the page: it runs on a thread of its own, with its own store instance
// (VanLock::OpenUnlockedCopy), while the officer goes on working; the page polls State() for its
// progress and, at the end, what it changed. One at a time.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "mpp/field/sync_client.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/result.h"
#include "mpp/sync/transport.h"
#include "van_lock.h"

namespace mpp::field_web {

using TransportFactory =
    std::function<Result<std::unique_ptr<sync::Transport>>(const std::string& url)>;

class SyncJob {
 public:
  SyncJob(VanLock& van, TransportFactory transport, sync::Clock& clock)
      : van_(van), transport_(std::move(transport)), clock_(clock) {}
  ~SyncJob();  // cancels a running sync and waits for its thread
  SyncJob(const SyncJob&) = delete;
  SyncJob& operator=(const SyncJob&) = delete;

  // Starts a sync. kConflict while one runs; kInvalidInput (kNotEnrolledMessage) for a van not
  // enrolled; the store's errors (locked) before anything starts.
  Result<void> Start();
  // Asks a running sync to stop (SyncOptions::cancelled); a no-op otherwise.
  void Cancel();
  // {"running", "phase", "done", "total", "started_ms", "finished_ms", and after the end
  //  "ok", then "report" (the sync's figures and changes) or "error" (the reason) and
  //  "unreachable" (no answer from the server: the network, not the van)}.
  nlohmann::json State();

 private:
  void Run(std::unique_ptr<store::VanStore> store, std::unique_ptr<sync::Transport> transport);

  VanLock& van_;
  const TransportFactory transport_;
  sync::Clock& clock_;
  std::atomic<bool> cancel_{false};
  std::mutex mutex_;  // guards state_ and thread_
  nlohmann::json state_ = {{"running", false}};
  std::thread thread_;
};

}  // namespace mpp::field_web
