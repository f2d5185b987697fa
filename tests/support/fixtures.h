// Small model fixtures shared by tests: a two-service catalog and mutation builders.
#pragma once

#include <string>

#include "mpp/sync/catalog.h"
#include "mpp/sync/model.h"

namespace mpp::test {

// One agency, two services; "dukcapil.ktp-el" needs nik, name, birth_date; "alasan" is an enum.
const char* TinyCatalogJson();
const sync::Catalog& TinyCatalog();

// A valid NIK for a man born 1990-01-01, with the given serial (1-9999).
std::string ValidNik(int serial = 1);

sync::Mutation CreateMutation(const std::string& origin, uint64_t seq, sync::HlcTimestamp hlc,
                              const std::string& request_id);
sync::Mutation SetFieldMutation(const std::string& origin, sync::HlcTimestamp hlc,
                                const std::string& request_id, const std::string& field,
                                const std::string& value, sync::Version base);
sync::Mutation SetStatusMutation(const std::string& origin, sync::HlcTimestamp hlc,
                                 const std::string& request_id, sync::RequestStatus to);

}  // namespace mpp::test
