// A sync::Transport over the host app's HTTP stack (mpp_transport): Android and iOS apps send
// through OkHttp or URLSession, which know the platform's proxies, certificates and radio
// policy. Like CurlTransport it never retries: the sync loop decides.
#pragma once

#include <optional>
#include <string>

#include "mpp/sync/transport.h"
#include "mpp_field.h"

// What the host's send callback fills through the mpp_http_response_* setters. The library
// copies whatever the host hands it, during the setter call, so no buffer changes hands.
struct mpp_http_response {
  int status = 0;
  std::string content_type;
  mpp::Bytes body;
  bool too_large = false;  // the host offered more than kMaxBodyBytes; the body was dropped
  std::optional<mpp_error_code> error_code;
  std::string error_message;
};

namespace mpp::capi {

// As CurlOptions::max_response_bytes: a broken or hostile server cannot fill the van's memory.
inline constexpr size_t kMaxResponseBodyBytes = size_t{64} << 20;

class CallbackTransport final : public sync::Transport {
 public:
  // `transport.send` must not be null (checked by mpp_van_set_transport).
  explicit CallbackTransport(const mpp_transport& transport) : transport_(transport) {}
  Result<sync::HttpResponse> Send(const sync::HttpRequest& request) override;
  // Bodies only: the host's headers are not visible here.
  sync::TransferStats stats() const override { return stats_; }

 private:
  mpp_transport transport_;
  sync::TransferStats stats_;
};

}  // namespace mpp::capi
