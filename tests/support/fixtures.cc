#include "support/fixtures.h"

#include <cstdio>

namespace mpp::test {

const char* TinyCatalogJson() {
  return R"({"version": 1, "name": "test",
    "agencies": [{"id": "dukcapil", "name": "Dinas Kependudukan dan Pencatatan Sipil"}],
    "services": [
      {"id": "dukcapil.ktp-el", "agency": "dukcapil", "name": "KTP Elektronik",
       "fields": [
         {"name": "nik", "type": "nik", "required": true, "personal": true},
         {"name": "name", "type": "text", "required": true, "personal": true},
         {"name": "birth_date", "type": "date", "required": true, "personal": true},
         {"name": "phone", "type": "phone", "personal": true},
         {"name": "alasan", "type": "enum", "options": ["baru", "hilang", "rusak"]},
         {"name": "catatan", "type": "text", "max_length": 300}]},
      {"id": "dukcapil.kia", "agency": "dukcapil", "name": "Kartu Identitas Anak",
       "fields": [{"name": "nik", "type": "nik", "required": true, "personal": true}]}]})";
}

const sync::Catalog& TinyCatalog() {
  static const sync::Catalog catalog = sync::Catalog::FromJson(TinyCatalogJson()).value();
  return catalog;
}

std::string ValidNik(int serial) {
  char buf[64];
  snprintf(buf, sizeof buf, "611205010190%04d", serial);
  return buf;
}

sync::Mutation CreateMutation(const std::string& origin, uint64_t seq, sync::HlcTimestamp hlc,
                              const std::string& request_id) {
  sync::Mutation m;
  m.origin = origin;
  m.seq = seq;
  m.hlc = hlc;
  m.actor = "officer";
  m.kind = sync::MutationKind::kCreate;
  m.request_id = request_id;
  m.service_id = "dukcapil.ktp-el";
  m.receipt = "KR01-20261128-" + std::to_string(seq);
  m.writes = {
      {"nik", ValidNik(), {}}, {"name", "Siti Rahmawati", {}}, {"birth_date", "1990-01-01", {}}};
  return m;
}

sync::Mutation SetFieldMutation(const std::string& origin, sync::HlcTimestamp hlc,
                                const std::string& request_id, const std::string& field,
                                const std::string& value, sync::Version base) {
  sync::Mutation m;
  m.origin = origin;
  m.hlc = hlc;
  m.actor = origin;
  m.kind = sync::MutationKind::kSetFields;
  m.request_id = request_id;
  m.writes = {{field, value, std::move(base)}};
  return m;
}

sync::Mutation SetStatusMutation(const std::string& origin, sync::HlcTimestamp hlc,
                                 const std::string& request_id, sync::RequestStatus to) {
  sync::Mutation m;
  m.origin = origin;
  m.hlc = hlc;
  m.actor = origin;
  m.kind = sync::MutationKind::kSetStatus;
  m.request_id = request_id;
  m.status_to = to;
  return m;
}

}  // namespace mpp::test
