// In-process transports for sync tests (LiteCore's LoopbackWebSocket, leveldb's SpecialEnv):
// LoopbackTransport hands requests straight to the server's services; FaultyTransport wraps any
// transport and, on cue, drops a request before it arrives, cuts the answer after the server
// applied it, duplicates it, or answers 503. Faults are counted, so tests can assert they ran.
#pragma once

#include <deque>
#include <functional>

#include "mpp/server/http_server.h"
#include "mpp/server/services.h"
#include "mpp/sync/transport.h"

namespace mpp::test {

class LoopbackTransport : public sync::Transport {
 public:
  explicit LoopbackTransport(server::Services& services) : services_(services) {}
  Result<sync::HttpResponse> Send(const sync::HttpRequest& request) override;
  sync::TransferStats stats() const override { return stats_; }

 private:
  server::Services& services_;
  sync::TransferStats stats_;
};

enum class Fault {
  kNone,
  kDropRequest,     // lost on the way: the server never sees it
  kCutAnswer,       // the server applied it; the answer is lost on the way back
  kDuplicate,       // delivered twice; the van sees the second answer
  kServerBusy,      // 503 without reaching the service
  kReplayPrevious,  // the answer to the previous request is delivered instead (a replay)
  kCorruptRequest,  // one byte of the request is flipped on the way (tampering, bad link)
  kCorruptAnswer,   // one byte of the answer is flipped on the way
  kTruncateAnswer,  // the answer arrives cut half-way
};

class FaultyTransport : public sync::Transport {
 public:
  explicit FaultyTransport(sync::Transport& inner) : inner_(inner) {}
  // Faults for the next requests, in order; after the queue is empty, requests pass.
  void Queue(std::initializer_list<Fault> faults) { faults_.insert(faults_.end(), faults); }
  // Decides a fault for every request (seeded simulations); overrides the queue when set.
  void SetPolicy(std::function<Fault(const sync::HttpRequest&)> policy) {
    policy_ = std::move(policy);
  }
  Result<sync::HttpResponse> Send(const sync::HttpRequest& request) override;
  sync::TransferStats stats() const override { return inner_.stats(); }
  size_t faults_injected() const { return injected_; }
  // Which byte a corruption flips: a function of the body size (seeded by the caller).
  void SetByteChooser(std::function<size_t(size_t)> chooser) { choose_byte_ = std::move(chooser); }

 private:
  sync::Transport& inner_;
  std::deque<Fault> faults_;
  std::function<Fault(const sync::HttpRequest&)> policy_;
  std::optional<sync::HttpResponse> previous_;
  std::function<size_t(size_t)> choose_byte_ = [](size_t size) { return size / 2; };
  size_t injected_ = 0;
};

}  // namespace mpp::test
