// The network, behind one small interface: "send this request, give me a response or an
// Error". Real: libcurl (curl_transport.h). Tests: an in-process transport that calls the
// server's handler directly, and wrappers that drop, cut, duplicate or delay on cue.
#pragma once

#include <cstdint>
#include <string>

#include "mpp/sync/bytes.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

struct HttpRequest {
  std::string method = "POST";  // GET or POST
  std::string path;             // "/v1/push"
  std::string content_type = "application/octet-stream";
  Bytes body;
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  Bytes body;
};

// Byte counters, headers included where the transport can see them, for the sync summary and
// the benchmarks.
struct TransferStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t requests = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one request. An HTTP answer of any status is a response, not an Error; Errors are for
  // when no complete answer arrived (kUnavailable: connect failed, connection cut; kTimeout).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
  virtual TransferStats stats() const { return {}; }
};

}  // namespace mpp::sync
