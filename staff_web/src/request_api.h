// The staff API's calls on requests, conflicts, comments, the summary and exports (API.md), for
// one logged-in staff member: each call parses, asks ScopedStaff (which keeps the account to
// its agency and role) and answers JSON.
#pragma once

#include <string>

#include "mpp/server/http_server.h"
#include "mpp/server/services.h"
#include "mpp/server/staff_scope.h"

namespace mpp::staff_web {

class RequestApi {
 public:
  using WebAnswer = server::WebAnswer;
  using WebRequest = server::WebRequest;

  RequestApi(server::Services& services, const server::StaffActor& actor, int offset_minutes)
      : services_(services),
        catalog_(services.staff.catalog()),
        scope_(services.staff, actor),
        offset_minutes_(offset_minutes) {}

  WebAnswer ListRequests(const WebRequest& request);
  WebAnswer ShowRequest(const std::string& id);
  WebAnswer SetStatus(const WebRequest& request, const std::string& id);
  WebAnswer SetFields(const WebRequest& request, const std::string& id);
  WebAnswer BulkStatus(const WebRequest& request);
  WebAnswer ListConflicts(const WebRequest& request);
  WebAnswer ResolveConflict(const WebRequest& request, const std::string& rev_text);
  WebAnswer Summary();
  WebAnswer Places();
  WebAnswer AddComment(const WebRequest& request, const std::string& id);
  WebAnswer Export(const WebRequest& request);

 private:
  WebAnswer RequestJson(const server::StoredRequest& stored);

  server::Services& services_;
  const sync::Catalog& catalog_;
  server::ScopedStaff scope_;
  const int offset_minutes_;
};

}  // namespace mpp::staff_web
