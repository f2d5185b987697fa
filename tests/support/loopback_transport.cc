#include "support/loopback_transport.h"

#include <string>

namespace mpp::test {

Result<sync::HttpResponse> LoopbackTransport::Send(const sync::HttpRequest& request) {
  stats_.requests++;
  stats_.bytes_sent += request.body.size();
  sync::HttpResponse response;
  Result<Bytes> answer = Error::NotFound("no route " + request.path);
  server::SyncLog log;
  if (request.path == "/v1/push") {
    answer = services_.van_sync.HandlePush(request.body, &log);
  } else if (request.path == "/v1/pull") {
    answer = services_.van_sync.HandlePull(request.body, &log);
  } else if (request.path == "/v1/enroll") {
    auto json = services_.devices.Enroll(StringOf(request.body));
    answer = json.ok() ? Result<Bytes>(BytesOf(*json)) : Result<Bytes>(json.error());
  } else if (request.path == "/v1/server-key") {
    answer = BytesOf("{\"public_key\":\"" + ToHex(services_.core.server_public_key()) + "\"}");
  }
  if (answer.ok()) {
    // As the HTTP layer: a signed refusal goes out as 409 with the signed ack.
    response.status = log.signed_refusal.empty() ? 200 : 409;
    response.content_type = "application/octet-stream";
    response.body = std::move(answer).value();
  } else {
    response.status = server::HttpStatusFor(answer.error());
    response.body = BytesOf(answer.error().message());
  }
  stats_.bytes_received += response.body.size();
  return response;
}

Result<sync::HttpResponse> FaultyTransport::Send(const sync::HttpRequest& request) {
  Fault fault = Fault::kNone;
  if (policy_) {
    fault = policy_(request);
  } else if (!faults_.empty()) {
    fault = faults_.front();
    faults_.pop_front();
  }
  if (fault != Fault::kNone) ++injected_;
  switch (fault) {
    case Fault::kNone:
      break;
    case Fault::kDropRequest:
      return Error::Unavailable("simulated: connection lost before the request arrived");
    case Fault::kCutAnswer: {
      auto ignored = inner_.Send(request);
      (void)ignored;
      return Error::Unavailable("simulated: connection cut while the answer was on its way");
    }
    case Fault::kDuplicate: {
      auto first = inner_.Send(request);
      (void)first;
      break;
    }
    case Fault::kServerBusy: {
      sync::HttpResponse busy;
      busy.status = 503;
      busy.body = BytesOf("simulated: server busy");
      return busy;
    }
    case Fault::kReplayPrevious:
      if (previous_) {
        auto ignored = inner_.Send(request);
        (void)ignored;
        return *previous_;
      }
      break;
    case Fault::kCorruptRequest: {
      sync::HttpRequest damaged = request;
      if (!damaged.body.empty()) damaged.body[choose_byte_(damaged.body.size())] ^= 0x20;
      return inner_.Send(damaged);
    }
    case Fault::kCorruptAnswer:
    case Fault::kTruncateAnswer: {
      auto response = inner_.Send(request);
      if (!response.ok() || response->body.empty()) return response;
      if (fault == Fault::kCorruptAnswer) {
        response->body[choose_byte_(response->body.size())] ^= 0x20;
      } else {
        response->body.resize(response->body.size() / 2);
      }
      return response;
    }
  }
  auto response = inner_.Send(request);
  if (response.ok()) previous_ = *response;
  return response;
}

}  // namespace mpp::test
