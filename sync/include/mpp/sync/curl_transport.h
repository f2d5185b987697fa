// The libcurl Transport: one keep-alive connection to the server, timeouts and a low-speed
// limit tuned for 2G/EDGE links (see sync_tuning.h). It does not retry: the sync loop decides
// (it knows which steps are safe to repeat). Call curl_global_init once in main() before use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mpp/sync/transport.h"

namespace mpp::sync {

struct CurlOptions {
  long connect_timeout_ms = 15'000;  // a 2G attach can take several seconds
  long total_timeout_ms = 120'000;   // one request, including a large batch at 2G speed
  long low_speed_bytes_per_s = 100;  // below this for low_speed_time_s: the link is dead
  long low_speed_time_s = 30;
  std::string ca_file;  // for https with a private CA; empty: system store
  // A response body larger than this is refused (kTooLarge) while it arrives, so a broken or
  // hostile server cannot fill the van's memory.
  uint64_t max_response_bytes = 64ull << 20;
};

// Send() may be called from any thread, but calls are serialized by a mutex: one request is in
// flight at a time, on the one reused connection.
class CurlTransport final : public Transport {
 public:
  // base_url like "http://127.0.0.1:8080" or "https://mpp.kuburayakab.go.id".
  static Result<std::unique_ptr<CurlTransport>> Create(const std::string& base_url,
                                                       const CurlOptions& options);
  ~CurlTransport() override;
  Result<HttpResponse> Send(const HttpRequest& request) override;
  TransferStats stats() const override;

 private:
  class Impl;
  explicit CurlTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mpp::sync
