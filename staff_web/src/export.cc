#include "export.h"

#include <nlohmann/json.hpp>
#include <set>

#include "mpp/sync/local_time.h"
#include "web_util.h"

namespace mpp::staff_web {
namespace {

using nlohmann::json;

// A cell as RFC 4180 wants it; and never a formula: a value a van typed that starts like one
// ("=HYPERLINK(...)") is written with a leading apostrophe, which spreadsheets show as text.
std::string CsvCell(const std::string& value) {
  std::string v = value;
  if (!v.empty() &&
      (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    v.insert(v.begin(), '\'');
  }
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string quoted = "\"";
  for (char c : v) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// The form fields of the exported services, in catalog order, each once.
std::vector<const sync::FieldSpec*> FieldColumns(
    const std::vector<const sync::Service*>& services) {
  std::vector<const sync::FieldSpec*> columns;
  std::set<std::string> seen;
  for (const sync::Service* service : services) {
    for (const auto& field : service->fields) {
      if (seen.insert(field.name).second) columns.push_back(&field);
    }
  }
  return columns;
}

std::string FieldValue(const sync::Request& r, const sync::FieldSpec& spec, bool mask) {
  auto it = r.fields.find(spec.name);
  if (it == r.fields.end()) return "";
  if (mask && spec.type == sync::FieldType::kNik) return MaskNik(it->second.value);
  if (mask && spec.type == sync::FieldType::kPhone) return MaskPhone(it->second.value);
  return it->second.value;
}

}  // namespace

std::string MaskNik(const std::string& nik) {
  if (nik.size() <= 10) return std::string(nik.size(), '*');
  return nik.substr(0, 6) + std::string(nik.size() - 10, '*') + nik.substr(nik.size() - 4);
}

std::string MaskPhone(const std::string& phone) {
  if (phone.size() <= 3) return std::string(phone.size(), '*');
  return std::string(phone.size() - 3, '*') + phone.substr(phone.size() - 3);
}

namespace {

// What the pieces of one export are made from; shared by the answer's next_piece.
struct Exporter {
  server::StaffService& staff;
  std::string by;  // the staff account exporting, for the audit trail
  const sync::Catalog& catalog;
  std::vector<const sync::FieldSpec*> columns;
  server::RequestCursor cursor;
  ExportFormat format;
  bool mask;
  sync::TimeZone zone;
  bool first_item = true;
  bool done = false;
  size_t rows = 0;

  std::string CsvHeader() const {
    std::string out = "\xEF\xBB\xBF";  // the byte order mark: spreadsheets then read UTF-8
    out += "Tanda terima,Status,Layanan,Instansi,Mobil layanan,Petugas,Dibuat,Diperbarui";
    for (const auto* spec : columns) {
      out += "," + CsvCell(spec->label.empty() ? spec->name : spec->label);
    }
    return out + "\r\n";
  }

  std::string CsvRow(const server::RequestSummary& s) const {
    const sync::Request& r = s.stored.request;
    const sync::Service* service = catalog.FindService(r.service_id);
    std::string out = CsvCell(r.receipt) + "," + sync::StatusName(r.status) + "," +
                      CsvCell(service ? service->name : r.service_id) + "," +
                      CsvCell(s.stored.agency) + "," + CsvCell(s.van_code) + "," +
                      CsvCell(r.officer) + "," + sync::FormatLocalTime(s.created_ms, zone) + "," +
                      sync::FormatLocalTime(s.updated_ms, zone);
    for (const auto* spec : columns) out += "," + CsvCell(FieldValue(r, *spec, mask));
    return out + "\r\n";
  }

  std::string JsonItem(const server::RequestSummary& s) const {
    const sync::Request& r = s.stored.request;
    json fields = json::object();
    if (const sync::Service* service = catalog.FindService(r.service_id)) {
      for (const auto& spec : service->fields) {
        if (r.fields.count(spec.name) != 0) fields[spec.name] = FieldValue(r, spec, mask);
      }
    }
    const json item = {{"id", r.id},
                       {"receipt", r.receipt},
                       {"status", sync::StatusName(r.status)},
                       {"service_id", r.service_id},
                       {"agency", s.stored.agency},
                       {"van_code", s.van_code},
                       {"officer", r.officer},
                       {"created_ms", s.created_ms},
                       {"updated_ms", s.updated_ms},
                       {"fields", fields}};
    return item.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  Result<std::string> NextPiece() {
    if (done) return std::string();
    MPP_ASSIGN_OR_RETURN(auto batch, cursor.Next());
    std::string out;
    rows += batch.size();
    for (const auto& s : batch) {
      if (format == ExportFormat::kCsv) {
        out += CsvRow(s);
      } else {
        out += (first_item ? "" : ",") + JsonItem(s);
        first_item = false;
      }
    }
    if (batch.empty()) {
      done = true;
      // The start was audited before the first byte; this says how much went out.
      MPP_RETURN_IF_ERROR(staff.Audit(by, "export.done", "", "requests: " + std::to_string(rows)));
      if (format == ExportFormat::kJson)
        out += std::string("],\"masked\":") + (mask ? "true" : "false") + "}";
    }
    return out;
  }
};

}  // namespace

server::WebAnswer ExportAnswer(server::StaffService& staff, const std::string& by,
                               const sync::Catalog& catalog,
                               std::vector<const sync::Service*> services,
                               server::RequestCursor cursor, ExportFormat format, bool mask,
                               int utc_offset_minutes) {
  auto exporter = std::make_shared<Exporter>(
      Exporter{staff, by, catalog, FieldColumns(services), std::move(cursor), format, mask,
               sync::TimeZone{utc_offset_minutes == 7 * 60 ? "WIB" : "", utc_offset_minutes}});
  server::WebAnswer a;
  std::string name = "permohonan";
  if (format == ExportFormat::kCsv) {
    a.content_type = "text/csv; charset=utf-8";
    a.body = exporter->CsvHeader();
    name += ".csv";
  } else {
    a.content_type = "application/json; charset=utf-8";
    a.body = "{\"items\":[";
    name += ".json";
  }
  a.next_piece = [exporter] { return exporter->NextPiece(); };
  a.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  return a;
}

}  // namespace mpp::staff_web
