// The staff API's calls for admins (API.md): vans, enrolment tokens with their QR code, staff
// accounts. Each refuses any other role with 403.
#pragma once

#include <string>

#include "mpp/server/http_server.h"
#include "mpp/server/services.h"
#include "mpp/server/staff_accounts.h"
#include "mpp/server/staff_scope.h"

namespace mpp::staff_web {

class AdminApi {
 public:
  using WebAnswer = server::WebAnswer;
  using WebRequest = server::WebRequest;

  AdminApi(server::Services& services, server::StaffAccounts& accounts,
           const server::StaffActor& actor)
      : services_(services), accounts_(accounts), scope_(services.staff, actor) {}

  WebAnswer ListVans(const WebRequest& request);
  WebAnswer RevokeVan(const WebRequest& request, const std::string& device_id);
  WebAnswer ListTokens();
  WebAnswer CreateToken(const WebRequest& request);
  WebAnswer RevokeToken(const WebRequest& request, const std::string& id);
  WebAnswer ListStaff();
  WebAnswer AddStaff(const WebRequest& request);
  WebAnswer ChangeStaff(const WebRequest& request, const std::string& user,
                        const std::string& action);

 private:
  server::Services& services_;
  server::StaffAccounts& accounts_;
  server::ScopedStaff scope_;
};

}  // namespace mpp::staff_web
