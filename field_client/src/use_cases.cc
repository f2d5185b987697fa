#include "mpp/field/use_cases.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace mpp::field {
namespace {

using sync::Mutation;
using sync::MutationKind;

std::vector<sync::FieldWrite> Writes(const sync::FieldMap& fields) {
  std::vector<sync::FieldWrite> writes;
  writes.reserve(fields.size());
  for (const auto& [name, value] : fields) writes.push_back({name, value, {}});
  return writes;
}

Result<sync::Request> CommitOne(store::VanStore& store, std::vector<Mutation> drafts) {
  MPP_ASSIGN_OR_RETURN(auto views, store.Commit(std::move(drafts)));
  return std::move(views.back());
}

Result<std::string> ResolveId(store::VanStore& store, const std::string& id_or_receipt) {
  MPP_ASSIGN_OR_RETURN(store::RequestRow row, store.Find(id_or_receipt));
  return row.view.id;
}

Mutation StatusDraft(const std::string& id, sync::RequestStatus to, std::string note) {
  Mutation m;
  m.kind = MutationKind::kSetStatus;
  m.request_id = id;
  m.status_to = to;
  m.note = std::move(note);
  return m;
}

}  // namespace

Result<sync::Request> RegisterRequest(store::VanStore& store, const std::string& service_id,
                                      const sync::FieldMap& fields) {
  Mutation m;
  m.kind = MutationKind::kCreate;
  m.service_id = service_id;
  m.writes = Writes(fields);
  return CommitOne(store, {std::move(m)});
}

Result<sync::Request> UpdateRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields) {
  if (fields.empty()) return Error::InvalidInput("nothing to change: give --set key=value");
  MPP_ASSIGN_OR_RETURN(std::string id, ResolveId(store, id_or_receipt));
  Mutation m;
  m.kind = MutationKind::kSetFields;
  m.request_id = id;
  m.writes = Writes(fields);
  return CommitOne(store, {std::move(m)});
}

Result<sync::Request> CancelRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const std::string& reason) {
  if (reason.empty()) return Error::InvalidInput("a cancellation needs a --reason");
  MPP_ASSIGN_OR_RETURN(std::string id, ResolveId(store, id_or_receipt));
  return CommitOne(store, {StatusDraft(id, sync::RequestStatus::kCancelled, reason)});
}

Result<sync::Request> DeliverRequest(store::VanStore& store, const std::string& id_or_receipt) {
  MPP_ASSIGN_OR_RETURN(std::string id, ResolveId(store, id_or_receipt));
  return CommitOne(store, {StatusDraft(id, sync::RequestStatus::kDelivered, "diserahkan")});
}

Result<sync::Request> AnswerRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields) {
  MPP_ASSIGN_OR_RETURN(std::string id, ResolveId(store, id_or_receipt));
  std::vector<Mutation> drafts;
  if (!fields.empty()) {
    Mutation m;
    m.kind = MutationKind::kSetFields;
    m.request_id = id;
    m.writes = Writes(fields);
    drafts.push_back(std::move(m));
  }
  drafts.push_back(StatusDraft(id, sync::RequestStatus::kInReview, "data dilengkapi"));
  return CommitOne(store, std::move(drafts));
}

Result<ImportLine> ParseImportLine(std::string_view line) {
  if (line.size() > kMaxImportLineBytes) {
    return Error::TooLarge("line is longer than " + std::to_string(kMaxImportLineBytes) + " bytes");
  }
  auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::InvalidInput("not valid JSON");
  if (!doc.is_object()) return Error::InvalidInput("a line must be a JSON object");
  auto service = doc.find("service_id");
  if (service == doc.end() || !service->is_string()) {
    return Error::InvalidInput("\"service_id\" must be a string");
  }
  auto fields = doc.find("fields");
  if (fields == doc.end() || !fields->is_object()) {
    return Error::InvalidInput("\"fields\" must be an object");
  }
  ImportLine out;
  out.service_id = service->get<std::string>();
  for (const auto& [name, value] : fields->items()) {
    if (!value.is_string()) {
      return Error::InvalidInput("field \"" + name + "\" must be a string");
    }
    out.fields[name] = value.get<std::string>();
  }
  return out;
}

Result<ImportReport> ImportFile(store::VanStore& store, const std::string& path,
                                const std::function<void(size_t, size_t)>& progress) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path);
  MPP_ASSIGN_OR_RETURN(sync::Catalog catalog, store.Catalog());
  ImportReport report;
  std::vector<Mutation> batch;
  batch.reserve(kImportBatch);
  size_t line_number = 0;
  size_t bytes_read = 0;
  auto flush = [&]() -> Result<void> {
    if (batch.empty()) return Ok();
    const size_t n = batch.size();
    MPP_RETURN_IF_ERROR(store.Commit(std::move(batch)));
    report.imported += n;
    batch.clear();
    if (progress) progress(line_number, bytes_read);
    return Ok();
  };
  std::string line;
  while (std::getline(in, line)) {
    ++line_number;
    bytes_read += line.size() + 1;
    if (line.empty() || line == "\r") continue;
    auto parsed = ParseImportLine(line);
    if (parsed.ok()) {
      auto valid = catalog.ValidateNew(parsed->service_id, parsed->fields);
      if (!valid) parsed = valid.error();
    }
    if (!parsed.ok()) {
      report.refused.push_back({line_number, parsed.error().message()});
      continue;
    }
    Mutation m;
    m.kind = MutationKind::kCreate;
    m.service_id = std::move(parsed->service_id);
    m.writes = Writes(parsed->fields);
    batch.push_back(std::move(m));
    if (batch.size() >= kImportBatch) MPP_RETURN_IF_ERROR(flush());
  }
  MPP_RETURN_IF_ERROR(flush());
  return report;
}

}  // namespace mpp::field
