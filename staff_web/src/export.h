// The staff's export of a filtered list (API.md "Export"): a CSV a spreadsheet opens as UTF-8,
// or JSON; personal numbers masked on request.
#pragma once

#include "mpp/server/http_server.h"
#include "mpp/server/staff_scope.h"
#include "mpp/sync/catalog.h"

namespace mpp::staff_web {

enum class ExportFormat { kCsv, kJson };

// A streamed answer (WebAnswer::next_piece): the requests `cursor` reads, a batch per piece,
// so memory stays flat however many there are. The CSV's columns are the fields of `services`
// (catalog order, each once). `utc_offset_minutes`: the zone of the times written (WIB).
// The end of the export is audited as `by` through `staff`.
server::WebAnswer ExportAnswer(server::StaffService& staff, const std::string& by,
                               const sync::Catalog& catalog,
                               std::vector<const sync::Service*> services,
                               server::RequestCursor cursor, ExportFormat format, bool mask,
                               int utc_offset_minutes);

// "611205******0003": the region and the last four digits of a NIK; and a phone number's last
// three digits. Exposed for tests.
std::string MaskNik(const std::string& nik);
std::string MaskPhone(const std::string& phone);

}  // namespace mpp::staff_web
