// The libcurl Transport. One easy handle per transport, reused for every Send so libcurl keeps
// the connection to the server alive between requests (on a 2G link a new TCP + TLS handshake
// costs seconds). A mutex serializes Send: one request at a time, from any thread.
//
// Request bodies go through a read callback (not CURLOPT_POSTFIELDS) so the bytes we count are
// the bytes curl took, and CURLINFO_REQUEST_SIZE is the request headers alone; a seek callback
// lets curl rewind the body when it resends on a fresh connection after a dead keep-alive one.
#include "mpp/sync/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

namespace mpp::sync {
namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

// TCP keepalive probes: a mobile NAT drops idle mappings after a minute or two.
constexpr long kKeepIdleS = 30;
constexpr long kKeepIntervalS = 15;

// State of one Send, handed to the callbacks.
struct Transfer {
  const Bytes* upload = nullptr;
  size_t upload_offset = 0;
  uint64_t upload_bytes = 0;  // body bytes handed to curl (again after a rewind)

  uint64_t max_body = 0;
  Bytes body;
  uint64_t body_bytes = 0;    // body bytes received, including a refused chunk
  uint64_t header_bytes = 0;  // status lines and header lines received, CRLFs included
  bool too_large = false;
};

size_t ReadBody(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = std::min(size * nitems, t->upload->size() - t->upload_offset);
  if (n > 0) std::memcpy(buffer, t->upload->data() + t->upload_offset, n);
  t->upload_offset += n;
  t->upload_bytes += n;
  return n;
}

int SeekBody(void* userdata, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userdata);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->upload->size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->upload_offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  t->body_bytes += n;
  if (t->body.size() + n > t->max_body) {
    t->too_large = true;
    return 0;  // any count other than n aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.insert(t->body.end(), reinterpret_cast<const uint8_t*>(data),
                 reinterpret_cast<const uint8_t*>(data) + n);
  return n;
}

size_t CountHeader(char* /*data*/, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  t->header_bytes += size * nitems;
  return size * nitems;
}

// Checks the base URL: http(s), a host, nothing we would append a path to badly.
Result<std::string> CheckBaseUrl(const std::string& base_url) {
  const bool http = base_url.rfind("http://", 0) == 0;
  const bool https = base_url.rfind("https://", 0) == 0;
  if (!http && !https) {
    return Error::InvalidInput("server URL \"" + base_url +
                               "\" must start with http:// or https://");
  }
  if (base_url.find_first_of("?#") != std::string::npos) {
    return Error::InvalidInput("server URL \"" + base_url +
                               "\" must not have a query or fragment (paths are appended to it)");
  }
  UrlPtr url(curl_url());
  if (!url) return Error::Internal("curl_url: out of memory");
  if (CURLUcode rc = curl_url_set(url.get(), CURLUPART_URL, base_url.c_str(), 0); rc != CURLUE_OK) {
    return Error::InvalidInput("server URL \"" + base_url +
                               "\" is malformed: " + curl_url_strerror(rc));
  }
  char* host = nullptr;
  const bool has_host = curl_url_get(url.get(), CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                        host != nullptr && host[0] != '\0';
  curl_free(host);
  if (!has_host) return Error::InvalidInput("server URL \"" + base_url + "\" has no host");
  std::string trimmed = base_url;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  return trimmed;
}

}  // namespace

class CurlTransport::Impl {
 public:
  Impl(EasyPtr easy, std::string base_url, CurlOptions options)
      : easy_(std::move(easy)), base_url_(std::move(base_url)), options_(std::move(options)) {}

  // Sets the options that stay the same for every request.
  Result<void> Configure() {
    SetOpt(CURLOPT_ERRORBUFFER, errbuf_);
    SetOpt(CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: we are multithreaded
    SetOpt(CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
    SetOpt(CURLOPT_TIMEOUT_MS, options_.total_timeout_ms);
    SetOpt(CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_bytes_per_s);
    SetOpt(CURLOPT_LOW_SPEED_TIME, options_.low_speed_time_s);
    SetOpt(CURLOPT_TCP_KEEPALIVE, 1L);
    SetOpt(CURLOPT_TCP_KEEPIDLE, kKeepIdleS);
    SetOpt(CURLOPT_TCP_KEEPINTVL, kKeepIntervalS);
    SetOpt(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
    SetOpt(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SetOpt(CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    // Refuses up front when Content-Length already says too much; WriteBody catches the rest.
    SetOpt(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_response_bytes));
    if (!options_.ca_file.empty()) SetOpt(CURLOPT_CAINFO, options_.ca_file.c_str());
    SetOpt(CURLOPT_READFUNCTION, &ReadBody);
    SetOpt(CURLOPT_SEEKFUNCTION, &SeekBody);
    SetOpt(CURLOPT_WRITEFUNCTION, &WriteBody);
    SetOpt(CURLOPT_HEADERFUNCTION, &CountHeader);
    if (setopt_failed_ != CURLE_OK) {
      return Error::Internal("curl_easy_setopt for " + base_url_ +
                             " failed: " + curl_easy_strerror(setopt_failed_));
    }
    return Ok();
  }

  Result<HttpResponse> Send(const HttpRequest& request) {
    std::lock_guard lock(mu_);
    const bool post = request.method == "POST";
    if (!post && request.method != "GET") {
      return Error::InvalidInput("HTTP method \"" + request.method + "\" is not GET or POST");
    }
    if (request.path.empty() || request.path.front() != '/') {
      return Error::InvalidInput("request path \"" + request.path + "\" must start with '/'");
    }
    const std::string url = base_url_ + request.path;
    const std::string what = request.method + " " + url;

    Transfer t;
    t.upload = &request.body;
    t.max_body = options_.max_response_bytes;

    // Headers: an explicit Content-Type, and an empty "Expect:" so curl never waits a round
    // trip for "100 Continue" before sending a large body.
    SlistPtr headers;
    if (post) {
      const std::string content_type =
          request.content_type.empty() ? "application/octet-stream" : request.content_type;
      for (const std::string& line : {"Content-Type: " + content_type, std::string("Expect:")}) {
        curl_slist* grown = curl_slist_append(headers.get(), line.c_str());
        if (grown == nullptr) return Error::Internal(what + ": curl_slist_append failed");
        // curl_slist_append returns the head: the old list, or a new one when there was none.
        (void)headers.release();
        headers.reset(grown);
      }
    }

    // The handle keeps the list pointer until the next Send replaces it: keep the list as long.
    headers_ = std::move(headers);
    setopt_failed_ = CURLE_OK;
    SetOpt(CURLOPT_URL, url.c_str());
    SetOpt(CURLOPT_HTTPHEADER, headers_.get());
    if (post) {
      SetOpt(CURLOPT_POST, 1L);
      SetOpt(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    } else {
      SetOpt(CURLOPT_HTTPGET, 1L);
    }
    void* const transfer = &t;
    SetOpt(CURLOPT_READDATA, transfer);
    SetOpt(CURLOPT_SEEKDATA, transfer);
    SetOpt(CURLOPT_WRITEDATA, transfer);
    SetOpt(CURLOPT_HEADERDATA, transfer);
    if (setopt_failed_ != CURLE_OK) {
      return Error::Internal(what +
                             ": curl_easy_setopt failed: " + curl_easy_strerror(setopt_failed_));
    }

    errbuf_[0] = '\0';
    const CURLcode rc = curl_easy_perform(easy_.get());

    long request_size = 0;  // request line and headers (the body went through ReadBody)
    curl_easy_getinfo(easy_.get(), CURLINFO_REQUEST_SIZE, &request_size);
    stats_.requests += 1;
    stats_.bytes_sent += static_cast<uint64_t>(std::max(request_size, 0L)) + t.upload_bytes;
    stats_.bytes_received += t.header_bytes + t.body_bytes;

    if (rc != CURLE_OK) return ToError(rc, t, what);

    HttpResponse response;
    long status = 0;
    curl_easy_getinfo(easy_.get(), CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    char* content_type = nullptr;
    if (curl_easy_getinfo(easy_.get(), CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK &&
        content_type != nullptr) {
      response.content_type = content_type;
    }
    response.body = std::move(t.body);
    return response;
  }

  TransferStats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  template <typename T>
  void SetOpt(CURLoption option, T value) {
    const CURLcode rc = curl_easy_setopt(easy_.get(), option, value);
    if (rc != CURLE_OK && setopt_failed_ == CURLE_OK) setopt_failed_ = rc;
  }

  // Converts a failed transfer into an Error naming the request and curl's own explanation.
  Error ToError(CURLcode rc, const Transfer& t, const std::string& what) const {
    const std::string detail = std::string(errbuf_[0] != '\0' ? errbuf_ : curl_easy_strerror(rc)) +
                               " (curl error " + std::to_string(static_cast<int>(rc)) + ")";
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Error::TooLarge(what + ": response body over the limit of " +
                             std::to_string(options_.max_response_bytes) + " bytes; " + detail);
    }
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        return Error::Timeout(what + ": " + detail + "; limits: connect " +
                              std::to_string(options_.connect_timeout_ms) + " ms, total " +
                              std::to_string(options_.total_timeout_ms) + " ms, below " +
                              std::to_string(options_.low_speed_bytes_per_s) + " B/s for " +
                              std::to_string(options_.low_speed_time_s) + " s");
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_PARTIAL_FILE:
      case CURLE_GOT_NOTHING:
        return Error::Unavailable(what + ": " + detail);
      default:
        return Error::Internal(what + ": " + detail);
    }
  }

  EasyPtr easy_;
  SlistPtr headers_;
  const std::string base_url_;
  const CurlOptions options_;
  char errbuf_[CURL_ERROR_SIZE] = {};
  CURLcode setopt_failed_ = CURLE_OK;

  mutable std::mutex mu_;  // serializes Send (the handle is not thread-safe) and guards stats_
  TransferStats stats_;
};

Result<std::unique_ptr<CurlTransport>> CurlTransport::Create(const std::string& base_url,
                                                             const CurlOptions& options) {
  MPP_ASSIGN_OR_RETURN(std::string url, CheckBaseUrl(base_url));
  EasyPtr easy(curl_easy_init());
  if (!easy) return Error::Internal("curl_easy_init failed (was curl_global_init called?)");
  auto impl = std::make_unique<Impl>(std::move(easy), std::move(url), options);
  MPP_RETURN_IF_ERROR(impl->Configure());
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(impl)));
}

CurlTransport::CurlTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CurlTransport::~CurlTransport() = default;

Result<HttpResponse> CurlTransport::Send(const HttpRequest& request) {
  return impl_->Send(request);
}

TransferStats CurlTransport::stats() const { return impl_->stats(); }

}  // namespace mpp::sync
