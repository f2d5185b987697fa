#include "callback_transport.h"

#include "capi_error.h"

namespace mpp::capi {

Result<sync::HttpResponse> CallbackTransport::Send(const sync::HttpRequest& request) {
  const std::string what = request.method + " " + request.path;
  mpp_http_request c_request{
      request.method.c_str(), request.path.c_str(), request.content_type.c_str(),
      request.body.empty() ? nullptr : request.body.data(), request.body.size()};
  if (request.method == "GET") c_request.content_type = "";
  mpp_http_response answer;
  ++stats_.requests;
  stats_.bytes_sent += request.body.size();
  const int failed = transport_.send(transport_.context, &c_request, &answer);
  stats_.bytes_received += answer.body.size();
  if (failed != 0) {
    const mpp_error_code code = answer.error_code.value_or(MPP_ERR_UNAVAILABLE);
    const std::string why = answer.error_message.empty() ? "the app's HTTP transport got no answer"
                                                         : answer.error_message;
    return Error(FromCode(code), what + ": " + why);
  }
  if (answer.too_large) {
    return Error::TooLarge(what + ": the answer is larger than " +
                           std::to_string(kMaxResponseBodyBytes >> 20) + " MiB");
  }
  if (answer.status < 100 || answer.status > 599) {
    return Error::Internal(what + ": the app's HTTP transport answered without a valid HTTP " +
                           "status (" + std::to_string(answer.status) + ")");
  }
  return sync::HttpResponse{answer.status, std::move(answer.content_type), std::move(answer.body)};
}

}  // namespace mpp::capi

extern "C" {

MPP_API void mpp_http_response_set_status(mpp_http_response* response,
                                          int http_status) MPP_NOEXCEPT {
  if (response != nullptr) response->status = http_status;
}

MPP_API void mpp_http_response_set_content_type(mpp_http_response* response,
                                                const char* content_type) MPP_NOEXCEPT {
  if (response == nullptr) return;
  try {
    response->content_type = content_type == nullptr ? "" : content_type;
  } catch (...) {  // out of memory: the answer then fails as one without a known type would
    response->content_type.clear();
  }
}

MPP_API mpp_error_code mpp_http_response_append_body(mpp_http_response* response,
                                                     const uint8_t* data, size_t len) MPP_NOEXCEPT {
  if (response == nullptr || (data == nullptr && len != 0)) return MPP_ERR_INVALID_INPUT;
  if (response->too_large || len > mpp::capi::kMaxResponseBodyBytes - response->body.size()) {
    response->too_large = true;
    response->body.clear();
    return MPP_ERR_TOO_LARGE;
  }
  try {
    response->body.insert(response->body.end(), data, data + len);
  } catch (...) {
    return MPP_ERR_INTERNAL;
  }
  return MPP_OK;
}

MPP_API void mpp_http_response_set_error(mpp_http_response* response, mpp_error_code code,
                                         const char* message) MPP_NOEXCEPT {
  if (response == nullptr) return;
  response->error_code = code == MPP_OK ? MPP_ERR_UNAVAILABLE : code;
  try {
    response->error_message = message == nullptr ? "" : message;
  } catch (...) {
    response->error_message.clear();
  }
}

}  // extern "C"
