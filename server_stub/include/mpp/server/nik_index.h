// The NIK index: requests found by a keyed hash of the applicant's NIK (never the NIK itself),
// and the flag for a possible duplicate registration at two vans.
#pragma once

#include <optional>
#include <string_view>

#include "mpp/server/storage.h"
#include "mpp/sync/catalog.h"

namespace mpp::server {

// The field of a service's form that holds the applicant's NIK: the kNik field named "nik",
// else the first required kNik field (forms also hold a parent's NIK, nik_ayah, nik_ibu);
// nullptr when the form has none.
const sync::FieldSpec* NikFieldOf(const sync::Service& service);
// The NIK index's hash of a NIK: HMAC-SHA-256 under the server's NIK key (32 bytes).
Bytes NikIndexHash(ByteView key, std::string_view nik);

// Keeps the index in step with a stored request (its NIK field); with `flag`, a request whose
// NIK has an open request for the same service from another van gets a "duplicate" conflict
// record on both devices, once per pair. Returns how many pairs it flagged. An empty `key`
// means no index.
Result<size_t> IndexNik(StorageTxn& txn, ByteView key, const sync::Catalog& catalog,
                        const std::optional<sync::Request>& before, const sync::Request& request,
                        bool flag, int64_t now_ms);

}  // namespace mpp::server
