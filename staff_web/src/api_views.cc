#include "api_views.h"

namespace mpp::staff_web {

using nlohmann::json;

json CountsJson(const std::map<sync::RequestStatus, size_t>& counts) {
  json out = json::object();
  for (auto status : kStatuses) {
    auto it = counts.find(status);
    out[sync::StatusName(status)] = it == counts.end() ? 0 : it->second;
  }
  return out;
}

json ServiceNames(const sync::Catalog& catalog, const std::string& service_id) {
  const sync::Service* service = catalog.FindService(service_id);
  return {{"service_name", service ? service->name : service_id},
          {"service_name_en", service ? service->name_en : service_id}};
}

std::string VillageWords(const sync::Catalog& catalog, const std::string& code) {
  const sync::Village* v = catalog.FindVillage(code);
  if (v == nullptr) return "";
  const sync::District* d = catalog.FindDistrict(v->district_code);
  return "Desa " + v->name + (d ? ", Kec. " + d->name : "");
}

json SummaryJson(const sync::Catalog& catalog, const server::RequestSummary& s) {
  const sync::Request& r = s.stored.request;
  json j = {{"id", r.id},
            {"receipt", r.receipt},
            {"service_id", r.service_id},
            {"agency", s.stored.agency},
            {"van_code", s.van_code},
            {"officer", r.officer},
            {"name", s.citizen_name},
            {"village_code", s.village_code},
            {"village", VillageWords(catalog, s.village_code)},
            {"status", sync::StatusName(r.status)},
            {"created_ms", s.created_ms},
            {"updated_ms", s.updated_ms},
            {"duplicate", s.duplicate}};
  j.update(ServiceNames(catalog, r.service_id));
  return j;
}

json ConflictJson(const server::StoredConflict& c) {
  return {{"rev", c.rev},
          {"request_id", c.conflict.request_id},
          {"receipt", c.receipt},
          {"van_code", c.van_code},
          {"field", c.conflict.field},
          {"kept_value", c.conflict.kept_value},
          {"lost_value", c.conflict.lost_value},
          {"reason", c.conflict.reason},
          {"created_ms", c.created_ms},
          {"open", c.open()},
          {"resolved_by", c.resolved_by},
          {"resolution", c.resolution}};
}

json AccountJson(const server::StaffAccount& a) {
  return {{"user", a.user},
          {"agency", a.agency},
          {"role", server::StaffRoleName(a.role)},
          {"created_ms", a.created_ms},
          {"disabled", a.disabled()}};
}

json ActorJson(const server::StaffLogin& login) {
  return {{"user", login.actor.user},
          {"agency", login.actor.agency},
          {"role", server::StaffRoleName(login.actor.role)},
          {"csrf", login.csrf}};
}

// /api/requests/{id}[/{action}] -> {id, action}; nullopt for any other path.

}  // namespace mpp::staff_web
