// The staff's dashboard and JSON API (server_stub/API.md), served by `mpp-server serve` beside
// the vans' routes: HttpServer hands it every path it Serves() (/, the dashboard's files, and
// /api/...). Routes are thin: sessions are StaffAccounts', what a staff member may see and do is
// ScopedStaff's; this layer parses, checks the session, CSRF token and Origin, and answers JSON.
#pragma once

#include <string>
#include <string_view>

#include "mpp/server/http_server.h"
#include "mpp/server/services.h"
#include "mpp/server/staff_accounts.h"

namespace mpp::staff_web {

struct StaffWebOptions {
  // Served over TLS: the session cookie is Secure and the own origin is https://.
  bool tls = false;
  // The time zone dates in filters are read in (Kubu Raya: WIB).
  int utc_offset_minutes = 7 * 60;
};

class StaffWeb final : public server::WebApp {
 public:
  StaffWeb(server::Services& services, server::StaffAccounts& accounts,
           StaffWebOptions options = {})
      : services_(services), accounts_(accounts), options_(options) {}

  bool Serves(std::string_view path) const override;
  server::WebAnswer Handle(const server::WebRequest& request) override;

 private:
  server::WebAnswer Route(const server::WebRequest& request, std::string_view path);
  server::WebAnswer Asset(const server::WebRequest& request, std::string_view path) const;
  server::WebAnswer Login(const server::WebRequest& request);
  server::WebAnswer Api(const server::WebRequest& request, std::string_view path,
                        const server::StaffLogin& login);
  bool SameOrigin(const server::WebRequest& request) const;

  server::Services& services_;
  server::StaffAccounts& accounts_;
  const StaffWebOptions options_;
};

}  // namespace mpp::staff_web
