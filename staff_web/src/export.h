// The staff's export of a filtered list (API.md "Export"): a CSV a spreadsheet opens as UTF-8,
// or JSON; personal numbers masked on request.
#pragma once

#include "mpp/server/http_server.h"
#include "mpp/server/staff_scope.h"
#include "mpp/sync/catalog.h"

namespace mpp::staff_web {

enum class ExportFormat { kCsv, kJson };

// `utc_offset_minutes`: the zone of the times written (WIB for Kubu Raya).
server::WebAnswer ExportAnswer(const sync::Catalog& catalog, const server::RequestPage& page,
                               ExportFormat format, bool mask, int utc_offset_minutes);

// "611205******0003": the region and the last four digits of a NIK; and a phone number's last
// three digits. Exposed for tests.
std::string MaskNik(const std::string& nik);
std::string MaskPhone(const std::string& phone);

}  // namespace mpp::staff_web
