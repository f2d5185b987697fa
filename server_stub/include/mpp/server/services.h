// The server's services over one storage, as `mpp-server` runs them: van sync for the vans'
// HTTP routes, staff for the administrator commands (and the staff's JSON API), devices for
// enrolment. Each holds only a reference to the shared core.
#pragma once

#include "mpp/server/device_service.h"
#include "mpp/server/server_core.h"
#include "mpp/server/staff_service.h"
#include "mpp/server/van_sync.h"

namespace mpp::server {

class Services {
 public:
  Services(ServerStorage& storage, sync::Clock& clock, sync::Rng& rng, Bytes server_private_key,
           sync::Catalog catalog, ServiceOptions options = {})
      : core(storage, clock, rng, std::move(server_private_key), std::move(catalog),
             std::move(options)),
        van_sync(core),
        staff(core),
        devices(core) {}
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  ServerCore core;
  VanSync van_sync;
  StaffService staff;
  DeviceService devices;
};

}  // namespace mpp::server
