#include "van_api.h"

#include <algorithm>
#include <set>

#include "mpp/field/use_cases.h"
#include "mpp/sync/enrollment_qr.h"
#include "mpp/sync/http_status.h"
#include "mpp/sync/json_format.h"
#include "mpp/sync/qr_code.h"
#include "views.h"

namespace mpp::field_web {
namespace {

using nlohmann::json;

// A form nests two levels; the body of any call three at most.
constexpr size_t kMaxBodyDepth = 4;
// Search results on one page: an officer looks for one citizen, not at the whole van.
constexpr size_t kMaxListed = 200;

ApiAnswer Answer(json body, int status = 200) { return ApiAnswer{status, std::move(body), ""}; }

// The body as an object whose keys are all in `allowed`.
Result<json> ReadBody(const ApiCall& call, std::initializer_list<std::string_view> allowed) {
  MPP_ASSIGN_OR_RETURN(json body, sync::ParseJsonObjectStrict(call.body, kMaxBodyDepth));
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Error::InvalidInput("unknown key \"" + key.substr(0, 40) + "\" in the request");
    }
  }
  return body;
}

Result<std::string> TextMember(const json& body, const char* key, bool required) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) return Error::InvalidInput(std::string("\"") + key + "\" is missing");
    return std::string();
  }
  if (!it->is_string()) return Error::InvalidInput(std::string("\"") + key + "\" must be text");
  return it->get<std::string>();
}

Result<sync::FieldMap> FieldsOf(const json& body) {
  sync::FieldMap fields;
  auto it = body.find("fields");
  if (it == body.end()) return fields;
  if (!it->is_object()) return Error::InvalidInput("\"fields\" must be an object");
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) {
      return Error::InvalidInput("field " + name.substr(0, 40) + ": the value must be text");
    }
    // An empty box on the page is a field not given.
    if (!value.get_ref<const std::string&>().empty()) fields[name] = value.get<std::string>();
  }
  return fields;
}

// A form call's body: the service and the officer's values (the keys in `allowed`).
struct FormBody {
  json body;
  std::string service;
  sync::FieldMap fields;
};
Result<FormBody> ReadForm(const ApiCall& call, std::initializer_list<std::string_view> allowed) {
  MPP_ASSIGN_OR_RETURN(json body, ReadBody(call, allowed));
  MPP_ASSIGN_OR_RETURN(std::string service, TextMember(body, "service", true));
  MPP_ASSIGN_OR_RETURN(sync::FieldMap fields, FieldsOf(body));
  return FormBody{std::move(body), std::move(service), std::move(fields)};
}

std::map<std::string, size_t> ConflictCounts(const std::vector<sync::ConflictRecord>& conflicts) {
  std::map<std::string, size_t> counts;
  for (const auto& c : conflicts) ++counts[c.request_id];
  return counts;
}

size_t CountFor(const std::map<std::string, size_t>& counts, const std::string& id) {
  auto it = counts.find(id);
  return it == counts.end() ? 0 : it->second;
}

json DuplicatesJson(const std::vector<sync::Request>& duplicates) {
  json list = json::array();
  for (const auto& d : duplicates) {
    list.push_back({{"id", d.id},
                    {"receipt", d.receipt},
                    {"status", sync::StatusName(d.status)},
                    {"created_ms", d.created.wall_ms}});
  }
  return list;
}

}  // namespace

ApiAnswer ErrorAnswer(const Error& error) {
  const int status = sync::HttpStatusFor(error);
  // A 5xx says only that the van's program failed; the page cannot act on the reason.
  json body = {{"code", sync::ApiCodeFor(status)},
               {"error", status >= 500 && status != 503 ? "the van's program failed; see its log"
                                                        : error.message()}};
  if (!error.details().empty()) body["problems"] = ProblemsJson(error);
  return Answer(std::move(body), status);
}

ApiAnswer VanApi::Handle(const ApiCall& call) {
  const std::string& p = call.path;
  const bool get = call.method == "GET";
  const bool post = call.method == "POST";
  if (p == "/api/officers" && get) return Officers();
  if (p == "/api/officer" && post) return SetOfficer(call);
  if (p == "/api/catalog" && get) return Catalog();
  if (p == "/api/check" && post) return Check(call);
  if (p == "/api/requests" && post) return Register(call);
  if (p == "/api/requests" && get) return ListRequests(call);
  if (p.rfind("/api/requests/", 0) == 0) {
    const std::string rest = p.substr(14);
    const size_t slash = rest.find('/');
    const std::string id = rest.substr(0, slash);
    const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (!id.empty() && id.size() <= 100) {
      if (action.empty() && get) return ShowRequest(id);
      if (action == "qr.svg" && get) return ReceiptQr(id);
      if ((action == "answer" || action == "deliver" || action == "cancel" || action == "update") &&
          post) {
        return ChangeRequest(call, id, action);
      }
    }
  }
  if (p == "/api/visits" && get) return Visits();
  if (p == "/api/conflicts" && get) return Conflicts();
  if (p == "/api/sync" && get) return Answer(sync_.State());
  if (p == "/api/sync" && post) {
    auto started = sync_.Start();
    if (!started) return ErrorAnswer(started.error());
    return Answer(sync_.State(), 202);
  }
  if (p == "/api/sync/cancel" && post) {
    sync_.Cancel();
    return Answer(sync_.State());
  }
  if (p == "/api/enroll" && post) return Enroll(call);
  return Answer({{"code", "not_found"}, {"error", "no such call in the van's app"}}, 404);
}

ApiAnswer VanApi::Officers() {
  auto officers = van_.With([](store::VanStore& s) -> Result<json> {
    MPP_ASSIGN_OR_RETURN(store::DeviceInfo device, s.Device());
    MPP_ASSIGN_OR_RETURN(auto rows, s.List({}));
    std::set<std::string> names = {device.officer};
    for (const auto& row : rows) names.insert(row.view.officer);
    return json{{"current", device.officer}, {"officers", names}};
  });
  return officers ? Answer(*officers) : ErrorAnswer(officers.error());
}

ApiAnswer VanApi::SetOfficer(const ApiCall& call) {
  auto body = ReadBody(call, {"name"});
  if (!body) return ErrorAnswer(body.error());
  auto name = TextMember(*body, "name", true);
  if (!name) return ErrorAnswer(name.error());
  auto set = van_.With([&](store::VanStore& s) { return s.SetOfficer(*name); });
  if (!set) return ErrorAnswer(set.error());
  return Officers();
}

ApiAnswer VanApi::Catalog() {
  auto catalog = van_.With([](store::VanStore& s) { return s.Catalog(); });
  if (!catalog) return ErrorAnswer(catalog.error());
  return Answer(sync::CatalogToJson(*catalog, ""));
}

ApiAnswer VanApi::Check(const ApiCall& call) {
  auto form = ReadForm(call, {"service", "fields"});
  if (!form) return ErrorAnswer(form.error());
  const std::string& service = form->service;
  const sync::FieldMap& fields = form->fields;
  const int64_t now = clock_.NowMillis();
  auto checked = van_.With([&](store::VanStore& s) -> Result<json> {
    MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, s.Catalog());
    if (catalog.FindService(service) == nullptr) {
      return Error::NotFound("no such service in the van's catalog");
    }
    sync::FieldMap normalised = fields;
    catalog.NormaliseForm(service, normalised);
    json out = {{"ok", true},
                {"problems", {{"fields", json::object()}, {"general", json::array()}}}};
    if (auto valid = catalog.ValidateNew(service, normalised, now); !valid) {
      out["ok"] = false;
      out["problems"] = ProblemsJson(valid.error());
    }
    MPP_ASSIGN_OR_RETURN(auto duplicates, field::OpenDuplicates(s, service, fields));
    out["duplicates"] = DuplicatesJson(duplicates);
    return out;
  });
  return checked ? Answer(*checked) : ErrorAnswer(checked.error());
}

ApiAnswer VanApi::Register(const ApiCall& call) {
  auto form = ReadForm(call, {"service", "fields", "force"});
  if (!form) return ErrorAnswer(form.error());
  const std::string& service = form->service;
  const sync::FieldMap& fields = form->fields;
  field::RegisterOptions options;
  if (auto force = form->body.find("force"); force != form->body.end()) {
    if (!force->is_boolean())
      return ErrorAnswer(Error::InvalidInput("\"force\" must be true or false"));
    options.force = force->get<bool>();
  }
  auto registered = van_.With([&](store::VanStore& s) -> Result<ApiAnswer> {
    auto request = field::RegisterRequest(s, service, fields, options);
    if (!request) {
      ApiAnswer refused = ErrorAnswer(request.error());
      if (request.error().code() == ErrorCode::kConflict) {
        MPP_ASSIGN_OR_RETURN(auto duplicates, field::OpenDuplicates(s, service, fields));
        refused.body["duplicates"] = DuplicatesJson(duplicates);
      }
      return refused;
    }
    MPP_ASSIGN_OR_RETURN(store::RequestRow row, s.Find(request->id));
    MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, s.Catalog());
    // The slip's QR code comes with the answer: the receipt is drawn without another request.
    MPP_ASSIGN_OR_RETURN(std::string qr, sync::QrCodeSvg(row.view.receipt));
    return Answer({{"request", RowJson(row, catalog, 0, false)}, {"receipt_qr_svg", qr}}, 201);
  });
  return registered ? *registered : ErrorAnswer(registered.error());
}

ApiAnswer VanApi::ListRequests(const ApiCall& call) {
  store::RequestFilter filter;
  if (auto status = call.query.find("status");
      status != call.query.end() && !status->second.empty()) {
    auto parsed = sync::ParseStatus(status->second);
    if (!parsed)
      return ErrorAnswer(
          Error::InvalidInput("unknown status \"" + status->second.substr(0, 40) + "\""));
    filter.status = *parsed;
  }
  auto q = call.query.find("q");
  const std::string query = q == call.query.end() ? "" : SearchQuery(q->second);
  auto state = call.query.find("state");
  const std::string wanted_state = state == call.query.end() ? "" : state->second;
  auto listed = van_.With([&](store::VanStore& s) -> Result<json> {
    MPP_ASSIGN_OR_RETURN(auto rows, s.List(filter));
    MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, s.Catalog());
    MPP_ASSIGN_OR_RETURN(auto conflicts, s.Conflicts());
    const auto counts = ConflictCounts(conflicts);
    // Newest first: the officer looks for today's citizens most.
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return a.view.created.wall_ms > b.view.created.wall_ms;
    });
    json list = json::array();
    size_t matched = 0;
    for (const auto& row : rows) {
      if (!MatchesSearch(row.view, query)) continue;
      if (!wanted_state.empty() && wanted_state != RequestState(row) &&
          !(wanted_state == "conflict" && CountFor(counts, row.view.id) > 0)) {
        continue;
      }
      if (++matched <= kMaxListed) {
        list.push_back(RowJson(row, catalog, CountFor(counts, row.view.id), false));
      }
    }
    return json{{"requests", std::move(list)}, {"matched", matched}, {"total", rows.size()}};
  });
  return listed ? Answer(*listed) : ErrorAnswer(listed.error());
}

ApiAnswer VanApi::ShowRequest(const std::string& id) {
  auto shown = van_.With([&](store::VanStore& s) -> Result<json> {
    MPP_ASSIGN_OR_RETURN(store::RequestRow row, s.Find(id));
    MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, s.Catalog());
    MPP_ASSIGN_OR_RETURN(auto conflicts, s.Conflicts());
    json mine = json::array();
    for (const auto& c : conflicts) {
      if (c.request_id == row.view.id) mine.push_back(sync::ConflictToJson(c));
    }
    json request = RowJson(row, catalog, mine.size(), true);
    request["conflict_records"] = std::move(mine);
    return json{{"request", std::move(request)}};
  });
  return shown ? Answer(*shown) : ErrorAnswer(shown.error());
}

ApiAnswer VanApi::ReceiptQr(const std::string& id) {
  auto svg = van_.With([&](store::VanStore& s) -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(store::RequestRow row, s.Find(id));
    return sync::QrCodeSvg(row.view.receipt);
  });
  if (!svg) return ErrorAnswer(svg.error());
  ApiAnswer a;
  a.svg = std::move(*svg);
  return a;
}

ApiAnswer VanApi::ChangeRequest(const ApiCall& call, const std::string& id,
                                const std::string& action) {
  auto body = ReadBody(call, {"fields", "reason", "received_by"});
  if (!body) return ErrorAnswer(body.error());
  auto fields = FieldsOf(*body);
  auto reason = TextMember(*body, "reason", action == "cancel");
  auto received_by = TextMember(*body, "received_by", action == "deliver");
  if (!fields) return ErrorAnswer(fields.error());
  if (!reason) return ErrorAnswer(reason.error());
  if (!received_by) return ErrorAnswer(received_by.error());
  auto changed = van_.With([&](store::VanStore& s) -> Result<json> {
    Result<sync::Request> request = Error::Internal("no change");
    if (action == "answer") request = field::AnswerRequest(s, id, *fields);
    if (action == "update") request = field::UpdateRequest(s, id, *fields);
    if (action == "cancel") request = field::CancelRequest(s, id, *reason);
    if (action == "deliver") request = field::DeliverRequest(s, id, *received_by);
    if (!request) return request.error();
    MPP_ASSIGN_OR_RETURN(store::RequestRow row, s.Find(request->id));
    MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, s.Catalog());
    return json{{"request", RowJson(row, catalog, 0, true)}};
  });
  return changed ? Answer(*changed) : ErrorAnswer(changed.error());
}

ApiAnswer VanApi::Visits() {
  auto visits = van_.With([&](store::VanStore& s) -> Result<json> {
    store::RequestFilter needs_info;
    needs_info.status = sync::RequestStatus::kNeedsInfo;
    store::RequestFilter completed;
    completed.status = sync::RequestStatus::kCompleted;
    MPP_ASSIGN_OR_RETURN(auto rows, s.List(needs_info));
    MPP_ASSIGN_OR_RETURN(auto ready, s.List(completed));
    MPP_ASSIGN_OR_RETURN(const sync::Catalog catalog, s.Catalog());
    MPP_ASSIGN_OR_RETURN(auto conflicts, s.Conflicts());
    rows.insert(rows.end(), std::make_move_iterator(ready.begin()),
                std::make_move_iterator(ready.end()));
    return VisitsJson(rows, catalog, ConflictCounts(conflicts));
  });
  return visits ? Answer(*visits) : ErrorAnswer(visits.error());
}

ApiAnswer VanApi::Conflicts() {
  auto listed = van_.With([&](store::VanStore& s) -> Result<json> {
    MPP_ASSIGN_OR_RETURN(auto conflicts, s.Conflicts());
    json list = json::array();
    for (const auto& c : conflicts) {
      json j = sync::ConflictToJson(c);
      if (auto row = s.Find(c.request_id)) j["receipt"] = row->view.receipt;
      list.push_back(std::move(j));
    }
    return json{{"conflicts", std::move(list)}};
  });
  return listed ? Answer(*listed) : ErrorAnswer(listed.error());
}

ApiAnswer VanApi::Enroll(const ApiCall& call) {
  auto body = ReadBody(call, {"qr"});
  if (!body) return ErrorAnswer(body.error());
  auto text = TextMember(*body, "qr", true);
  if (!text) return ErrorAnswer(text.error());
  auto qr = sync::DecodeEnrollmentQr(*text);
  if (!qr) return ErrorAnswer(qr.error());
  auto transport = options_.transport(qr->server_url);
  if (!transport) return ErrorAnswer(transport.error());
  auto enrolled = van_.With([&](store::VanStore& s) {
    return field::Enroll(s, **transport, qr->server_url, qr->token, qr->fingerprint, rng_);
  });
  if (!enrolled) return ErrorAnswer(enrolled.error());
  return Answer({{"device_id", enrolled->device_id},
                 {"server", qr->server_url},
                 {"server_fingerprint", enrolled->server_fingerprint}});
}

}  // namespace mpp::field_web
