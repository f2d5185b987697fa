#include "mpp/field/use_cases.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "mpp/sync/text.h"

namespace mpp::field {
namespace {

using sync::Mutation;
using sync::MutationKind;

// What an officer typed or imported, in the form's stored spelling (Catalog::NormaliseForm:
// NFC, dates as YYYY-MM-DD, phone numbers as 08..., enum values as the catalog spells them): the
// van normalises before the catalog validates and the mutation is signed; the server only checks.
std::vector<sync::FieldWrite> Writes(const sync::Catalog& catalog, std::string_view service_id,
                                     sync::FieldMap fields) {
  catalog.NormaliseForm(service_id, fields);
  std::vector<sync::FieldWrite> writes;
  writes.reserve(fields.size());
  while (!fields.empty()) {
    auto node = fields.extract(fields.begin());
    writes.push_back({std::move(node.key()), std::move(node.mapped()), {}});
  }
  return writes;
}

Result<sync::Request> CommitOne(store::VanStore& store, std::vector<Mutation> drafts) {
  MPP_ASSIGN_OR_RETURN(auto views, store.Commit(std::move(drafts)));
  return std::move(views.back());
}

Mutation StatusDraft(const std::string& id, sync::RequestStatus to, std::string note) {
  Mutation m;
  m.kind = MutationKind::kSetStatus;
  m.request_id = id;
  m.status_to = to;
  m.note = std::move(note);
  if (std::any_of(m.note.begin(), m.note.end(),
                  [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    m.note = sync::ToNfc(m.note);
  }
  return m;
}

Mutation FieldsDraft(const sync::Catalog& catalog, const sync::Request& request,
                     sync::FieldMap fields) {
  Mutation m;
  m.kind = MutationKind::kSetFields;
  m.request_id = request.id;
  m.writes = Writes(catalog, request.service_id, std::move(fields));
  return m;
}

// The field of a service's form that names the citizen the request is for.
constexpr const char* kCitizenNikField = "nik";

Result<std::vector<sync::Request>> FindOpenDuplicates(store::VanStore& store,
                                                      const sync::Catalog& catalog,
                                                      const std::string& service_id,
                                                      const sync::FieldMap& fields) {
  std::vector<sync::Request> open;
  auto nik = fields.find(kCitizenNikField);
  if (nik == fields.end() || nik->second.empty()) return open;
  store::RequestFilter filter;
  filter.service_id = service_id;
  // Only the NIK is looked up: it alone is put into the stored spelling (an import does this
  // for every line).
  const sync::Service* service = catalog.FindService(service_id);
  const sync::FieldSpec* spec = service ? service->FindField(kCitizenNikField) : nullptr;
  filter.nik = spec ? sync::NormaliseFieldValue(*spec, nik->second) : nik->second;
  MPP_ASSIGN_OR_RETURN(auto rows, store.List(filter));
  for (auto& row : rows) {
    if (!sync::IsFinal(row.view.status)) open.push_back(std::move(row.view));
  }
  return open;
}

std::string DuplicateMessage(const std::string& service_id,
                             const std::vector<sync::Request>& open) {
  std::string receipts;
  for (const auto& r : open) {
    receipts +=
        (receipts.empty() ? "" : ", ") + r.receipt + " (" + sync::StatusWords(r.status) + ")";
  }
  return "this NIK already has an open request for " + service_id + " on this van: " + receipts +
         "; register another one only if the citizen really asks twice";
}

}  // namespace

Result<std::vector<sync::Request>> OpenDuplicates(store::VanStore& store,
                                                  const std::string& service_id,
                                                  const sync::FieldMap& fields) {
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  return FindOpenDuplicates(store, catalog, service_id, fields);
}

Result<sync::Request> RegisterRequest(store::VanStore& store, const std::string& service_id,
                                      const sync::FieldMap& fields,
                                      const RegisterOptions& options) {
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  if (!options.force) {
    MPP_ASSIGN_OR_RETURN(auto open, FindOpenDuplicates(store, catalog, service_id, fields));
    if (!open.empty()) return Error::Conflict(DuplicateMessage(service_id, open));
  }
  Mutation m;
  m.kind = MutationKind::kCreate;
  m.service_id = service_id;
  m.writes = Writes(catalog, service_id, fields);
  return CommitOne(store, {std::move(m)});
}

Result<sync::Request> UpdateRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields) {
  if (fields.empty()) return Error::InvalidInput("nothing to change: no field was given");
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  return CommitOne(store, {FieldsDraft(catalog, row.view, fields)});
}

Result<sync::Request> CancelRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const std::string& reason) {
  if (reason.empty()) return Error::InvalidInput("a cancellation needs the citizen's reason");
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  return CommitOne(store, {StatusDraft(row.view.id, sync::RequestStatus::kCancelled, reason)});
}

Result<sync::Request> DeliverRequest(store::VanStore& store, const std::string& id_or_receipt,
                                     const std::string& received_by) {
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  std::string note = "diserahkan";
  if (!received_by.empty()) {
    const std::string name = sync::ToNfc(received_by);
    MPP_RETURN_IF_ERROR(
        sync::CheckText(name, "who received the document", sync::TextRules::Name()));
    if (name.size() > 100) {
      return Error::InvalidInput("who received the document: at most 100 characters");
    }
    note += " kepada " + name;
  }
  return CommitOne(store, {StatusDraft(row.view.id, sync::RequestStatus::kDelivered, note)});
}

Result<sync::Request> AnswerRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields) {
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  // Whether the request can be answered at all comes first: it is what the officer must hear.
  MPP_RETURN_IF_ERROR(
      sync::CheckTransition(row.view.status, sync::RequestStatus::kInReview, sync::Role::kVan));
  if (fields.empty()) {
    return Error::InvalidInput(
        "an answer gives the information the agency asked for: at least one field (the "
        "request stays waiting for information)");
  }
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  std::vector<Mutation> drafts;
  drafts.push_back(FieldsDraft(catalog, row.view, fields));
  drafts.push_back(StatusDraft(row.view.id, sync::RequestStatus::kInReview, "data dilengkapi"));
  return CommitOne(store, std::move(drafts));
}

namespace {

// Why an import line would duplicate an open request (RegisterRequest's rule), or nullopt.
Result<std::optional<std::string>> ImportDuplicate(
    store::VanStore& store, const sync::Catalog& catalog, const ImportLine& line,
    size_t line_number, std::map<std::pair<std::string, std::string>, size_t>& first_lines) {
  auto nik = line.fields.find(kCitizenNikField);
  if (nik == line.fields.end() || nik->second.empty()) return std::optional<std::string>();
  auto [first, inserted] =
      first_lines.emplace(std::pair(line.service_id, nik->second), line_number);
  if (!inserted) {
    return std::optional<std::string>("the same citizen (NIK) and service as line " +
                                      std::to_string(first->second));
  }
  MPP_ASSIGN_OR_RETURN(auto open, FindOpenDuplicates(store, catalog, line.service_id, line.fields));
  if (open.empty()) return std::optional<std::string>();
  return std::optional<std::string>(DuplicateMessage(line.service_id, open));
}

}  // namespace

Result<ImportReport> ImportFile(store::VanStore& store, const std::string& path,
                                const std::function<void(size_t, size_t)>& progress,
                                const RegisterOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path);
  ImportReport report;
  std::vector<Mutation> batch;
  std::vector<size_t> batch_lines;  // the line number of each draft in batch
  // (service, NIK) -> the first line that registers it: a file naming one citizen twice for a
  // service is a duplicate too.
  std::map<std::pair<std::string, std::string>, size_t> first_line_of_citizen;
  MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, store.Catalog());
  batch.reserve(kImportBatch);
  batch_lines.reserve(kImportBatch);
  size_t line_number = 0;
  size_t bytes_read = 0;
  auto flush = [&]() -> Result<void> {
    if (batch.empty()) return Ok();
    // The catalog check of each line happens here, in the store, exactly once: a line it refuses
    // is reported and left out of the batch, the others commit in one transaction.
    MPP_ASSIGN_OR_RETURN(const size_t committed,
                         store.CommitValid(std::move(batch), [&](size_t i, const Error& error) {
                           report.refused.push_back({batch_lines[i], error.message()});
                         }));
    report.imported += committed;
    batch.clear();
    batch.reserve(kImportBatch);
    batch_lines.clear();
    if (progress) progress(line_number, bytes_read);
    return Ok();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    bytes_read += line.size() + 1;
    if (line.empty() || line == "\r") continue;
    auto parsed = ParseImportLine(line);
    if (!parsed.ok()) {
      report.refused.push_back({line_number, parsed.error().message()});
      continue;
    }
    if (!options.force) {
      MPP_ASSIGN_OR_RETURN(auto duplicate, ImportDuplicate(store, catalog, *parsed, line_number,
                                                           first_line_of_citizen));
      if (duplicate) {
        report.refused.push_back({line_number, std::move(*duplicate), /*duplicate=*/true});
        continue;
      }
    }
    Mutation m;
    m.kind = MutationKind::kCreate;
    m.service_id = std::move(parsed->service_id);
    m.writes = Writes(catalog, m.service_id, std::move(parsed->fields));
    batch.push_back(std::move(m));
    batch_lines.push_back(line_number);
    if (batch.size() >= kImportBatch) MPP_RETURN_IF_ERROR(flush());
  }
  MPP_RETURN_IF_ERROR(flush());
  // A batch reports its refusals when it commits, after the parse refusals of the lines read
  // meanwhile: put them back in line order.
  std::sort(report.refused.begin(), report.refused.end(),
            [](const ImportRefusal& a, const ImportRefusal& b) { return a.line < b.line; });
  return report;
}

}  // namespace mpp::field
