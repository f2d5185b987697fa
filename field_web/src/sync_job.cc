#include "sync_job.h"

#include "mpp/field/json_format.h"
#include "mpp/field/sync_client.h"

namespace mpp::field_web {

using nlohmann::json;

SyncJob::~SyncJob() {
  cancel_ = true;
  std::thread running;
  {
    std::lock_guard lock(mutex_);  // the thread takes the mutex to report: not held to join
    running = std::move(thread_);
  }
  if (running.joinable()) running.join();
}

Result<void> SyncJob::Start() {
  std::lock_guard lock(mutex_);
  if (state_.value("running", false)) return Error::Conflict("a sync is already running");
  MPP_ASSIGN_OR_RETURN(store::DeviceInfo device,
                       van_.With([](store::VanStore& s) { return s.Device(); }));
  if (device.server_url.empty()) return Error::InvalidInput(field::kNotEnrolledMessage);
  MPP_ASSIGN_OR_RETURN(auto store, van_.OpenUnlockedCopy());
  MPP_ASSIGN_OR_RETURN(auto transport, transport_(device.server_url));
  // The last sync's thread: it reported its end, so it takes the mutex no more.
  if (thread_.joinable()) thread_.join();
  cancel_ = false;
  state_ = {{"running", true},
            {"phase", "push"},
            {"done", 0},
            {"total", 0},
            {"started_ms", clock_.NowMillis()},
            {"finished_ms", 0}};
  thread_ = std::thread(&SyncJob::Run, this, std::move(store), std::move(transport));
  return Ok();
}

void SyncJob::Cancel() { cancel_ = true; }

json SyncJob::State() {
  std::lock_guard lock(mutex_);
  return state_;
}

void SyncJob::Run(std::unique_ptr<store::VanStore> store,
                  std::unique_ptr<sync::Transport> transport) {
  // The sync's own randomness (request nonces): SystemRng is OpenSSL's, safe on any thread.
  sync::SystemRng rng;
  field::SyncOptions options;
  options.cancelled = [this] { return cancel_.load(); };
  auto progress = [this](const char* phase, size_t done, size_t total) {
    std::lock_guard lock(mutex_);
    state_["phase"] = phase;
    state_["done"] = done;
    state_["total"] = total;
  };
  Result<field::SyncReport> report =
      field::RunSync(*store, *transport, clock_, rng, options, progress);
  json end = {{"ok", report.ok()}};
  if (report) {
    end["report"] = field::SyncReportToJson(*report);
  } else {
    end["error"] = report.error().message();
    end["unreachable"] = field::ServerUnreachable(report.error());
    end["cancelled"] = report.error().message() == field::kCancelledSyncMessage;
  }
  store.reset();  // its keys leave memory before the page hears the sync ended
  std::lock_guard lock(mutex_);
  state_.update(end);
  state_["running"] = false;
  state_["finished_ms"] = clock_.NowMillis();
}

}  // namespace mpp::field_web
