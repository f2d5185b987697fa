// The officer's JSON API (field_web/README.md lists it): thin routes onto the van's use cases
// (field/use_cases.h), for a session that is paired and unlocked. The web layer (van_web.cc) has
// checked Host, Origin, the session and its CSRF token before a call gets here.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "mpp/field_web/van_web.h"
#include "mpp/sync/clock.h"
#include "mpp/sync/result.h"
#include "sync_job.h"
#include "van_lock.h"

namespace mpp::field_web {

struct ApiCall {
  std::string method;  // "GET" or "POST"
  std::string path;    // "/api/requests/KR01-20261203-0001/answer"
  std::map<std::string, std::string> query;
  std::string body;  // bounded by the web layer (kMaxBodyBytes)
};

struct ApiAnswer {
  int status = 200;
  nlohmann::json body;
  std::string svg;  // set instead of body for an image
};

// {"code", "error"} and, for a form, "problems" (ProblemsJson), with the HTTP status of the code.
ApiAnswer ErrorAnswer(const Error& error);

class VanApi {
 public:
  VanApi(VanLock& van, SyncJob& sync, const VanWebOptions& options, sync::Clock& clock,
         sync::Rng& rng)
      : van_(van), sync_(sync), options_(options), clock_(clock), rng_(rng) {}

  ApiAnswer Handle(const ApiCall& call);

 private:
  ApiAnswer Officers();
  ApiAnswer SetOfficer(const ApiCall& call);
  ApiAnswer Catalog();
  ApiAnswer Check(const ApiCall& call);
  ApiAnswer Register(const ApiCall& call);
  ApiAnswer ListRequests(const ApiCall& call);
  ApiAnswer ShowRequest(const std::string& id);
  ApiAnswer ReceiptQr(const std::string& id);
  ApiAnswer ChangeRequest(const ApiCall& call, const std::string& id, const std::string& action);
  ApiAnswer Visits();
  ApiAnswer Conflicts();
  ApiAnswer Enroll(const ApiCall& call);

  VanLock& van_;
  SyncJob& sync_;
  const VanWebOptions& options_;
  sync::Clock& clock_;
  sync::Rng& rng_;
};

}  // namespace mpp::field_web
