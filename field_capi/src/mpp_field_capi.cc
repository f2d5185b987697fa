// The C API of mpp_field.h over the C++ libraries. Each entry point runs in Guard
// (capi_error.h): input is checked and parsed here, the use cases do the work, their Error
// becomes the out-error. Nothing in here decides anything the use cases do not.
#include <curl/curl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "callback_transport.h"
#include "capi_error.h"
#include "default_catalog.h"
#include "mpp/field/json_format.h"
#include "mpp/field/passphrase.h"
#include "mpp/field/sync_client.h"
#include "mpp/field/use_cases.h"
#include "mpp/store/van_store.h"
#include "mpp/sync/curl_transport.h"
#include "mpp/sync/enrollment_qr.h"
#include "mpp/sync/json_format.h"

using nlohmann::json;

struct mpp_cancel {
  std::atomic<bool> set{false};
};

struct mpp_van {
  std::string dir;
  // The store keeps references to both: declared before it, so they outlive it.
  mpp::sync::SystemClock clock;
  mpp::sync::SystemRng rng;
  // Null only after a lock whose reopening failed (every call then says so).
  std::unique_ptr<mpp::store::VanStore> store;
  // The host's HTTP stack; unset: libcurl to the enrolled server.
  std::optional<mpp_transport> transport;
};

namespace mpp::capi {
namespace {

// Bounds on the JSON texts the host passes (THREATS.md row 38: bound before parsing). The
// init document carries a whole catalog (the default one is ~150 KB).
constexpr size_t kMaxInitJsonBytes = size_t{8} << 20;
constexpr size_t kMaxSmallJsonBytes = field::kMaxImportLineBytes;  // a form, options, filters
constexpr size_t kMaxJsonDepth = 64;
// As mpp-field init --kdf-memory-kib.
constexpr uint64_t kMinKdfMemoryKib = 8;
constexpr uint64_t kMaxKdfMemoryKib = 4ull * 1024 * 1024;

Result<void> Require(const void* pointer, const char* what) {
  if (pointer == nullptr) return Error::InvalidInput(std::string("no ") + what + " (NULL)");
  return Ok();
}

Result<store::VanStore*> StoreOf(mpp_van* van) {
  MPP_RETURN_IF_ERROR(Require(van, "van handle"));
  if (!van->store) {
    return Error::Internal(
        "the store could not be opened again after it was locked; close it "
        "and open it again");
  }
  return van->store.get();
}

// An optional JSON object argument: NULL or "" is an empty object.
Result<json> ParseObject(const char* text, const char* what, size_t max_bytes) {
  if (text == nullptr || *text == '\0') return json::object();
  const std::string_view view(text);
  if (view.size() > max_bytes) {
    return Error::TooLarge(std::string(what) + " is larger than " + std::to_string(max_bytes) +
                           " bytes");
  }
  auto parsed = sync::ParseJsonObjectStrict(view, kMaxJsonDepth);
  if (!parsed) return parsed.error().WithContext(what);
  return parsed;
}

// Refuses keys a call does not know: a misspelt option must not be silently ignored.
Result<void> OnlyKeys(const json& object, const char* what,
                      std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (auto k : known) found = found || k == key;
    if (!found) return Error::InvalidInput(std::string(what) + ": unknown key \"" + key + "\"");
  }
  return Ok();
}

Result<std::optional<std::string>> OptionalString(const json& object, const char* key,
                                                  const char* what) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) {
    return Error::InvalidInput(std::string(what) + ": \"" + key + "\" must be a string");
  }
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<uint64_t>> OptionalCount(const json& object, const char* key, const char* what,
                                              uint64_t min, uint64_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<uint64_t>();
  if (!it->is_number_unsigned() || it->get<uint64_t>() < min || it->get<uint64_t>() > max) {
    return Error::InvalidInput(std::string(what) + ": \"" + key +
                               "\" must be a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max));
  }
  return std::optional<uint64_t>(it->get<uint64_t>());
}

Result<std::string> RequiredText(const char* text, const char* what) {
  MPP_RETURN_IF_ERROR(Require(text, what));
  return std::string(text);
}

// A form: {"name": "value", ...}, every value a string (as the import lines are).
Result<sync::FieldMap> ParseFields(const char* fields_json) {
  MPP_ASSIGN_OR_RETURN(json object, ParseObject(fields_json, "the fields", kMaxSmallJsonBytes));
  sync::FieldMap fields;
  for (const auto& [name, value] : object.items()) {
    if (!value.is_string()) {
      return Error::InvalidInput("the fields: the value of \"" + name + "\" must be a string");
    }
    fields[name] = value.get<std::string>();
  }
  return fields;
}

json RequestJson(const sync::Request& request, bool pending, bool with_history) {
  json j = sync::RequestToJson(request, with_history);
  j["pending"] = pending;
  return j;
}

// Every change the officer makes is a pending mutation until the next sync.
Result<std::string> ChangedRequest(const Result<sync::Request>& changed) {
  if (!changed) return changed.error();
  return Dump(RequestJson(*changed, /*pending=*/true, /*with_history=*/false));
}

// libcurl's process-wide set-up: the host has no main() of ours to do it in (STYLE.md §5), so
// the first use does it, once, whichever thread gets there first. Never undone: the library
// may be in use until the process ends.
Result<void> InitCurlOnce() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return Error::Internal(std::string("libcurl could not start: ") + curl_easy_strerror(result));
  }
  return Ok();
}

// The transport of one enrolment or sync: the host's, else libcurl to `server_url`.
Result<std::unique_ptr<sync::Transport>> TransportFor(const mpp_van& van,
                                                      const std::string& server_url) {
  if (van.transport) return std::unique_ptr<sync::Transport>(new CallbackTransport(*van.transport));
  MPP_RETURN_IF_ERROR(InitCurlOnce());
  MPP_ASSIGN_OR_RETURN(auto curl, sync::CurlTransport::Create(server_url, {}));
  return std::unique_ptr<sync::Transport>(std::move(curl));
}

Result<void> Create(const char* dir, const char* passphrase, const char* init_json, mpp_van** out) {
  MPP_RETURN_IF_ERROR(Require(out, "place for the van handle"));
  MPP_ASSIGN_OR_RETURN(std::string directory, RequiredText(dir, "directory"));
  MPP_ASSIGN_OR_RETURN(std::string secret, RequiredText(passphrase, "passphrase"));
  MPP_ASSIGN_OR_RETURN(json init, ParseObject(init_json, "the van's settings", kMaxInitJsonBytes));
  MPP_RETURN_IF_ERROR(
      OnlyKeys(init, "the van's settings", {"van_code", "officer", "catalog", "kdf_memory_kib"}));
  store::InitOptions options;
  MPP_ASSIGN_OR_RETURN(auto van_code, OptionalString(init, "van_code", "the van's settings"));
  MPP_ASSIGN_OR_RETURN(auto officer, OptionalString(init, "officer", "the van's settings"));
  if (!van_code || !officer) {
    return Error::InvalidInput("the van's settings need \"van_code\" and \"officer\"");
  }
  options.van_code = *van_code;
  options.officer = *officer;
  if (auto catalog = init.find("catalog"); catalog != init.end()) {
    if (!catalog->is_object()) {
      return Error::InvalidInput("the van's settings: \"catalog\" must be the catalog document");
    }
    options.catalog_json = Dump(*catalog);
  } else {
    options.catalog_json = std::string(DefaultCatalogJson());
  }
  MPP_ASSIGN_OR_RETURN(auto memory, OptionalCount(init, "kdf_memory_kib", "the van's settings",
                                                  kMinKdfMemoryKib, kMaxKdfMemoryKib));
  if (memory) options.kdf.memory_kib = static_cast<uint32_t>(*memory);
  MPP_RETURN_IF_ERROR(field::CheckPassphraseStrength(
      secret, field::PassphraseUserWords(options.van_code, options.officer)));
  auto van = std::make_unique<mpp_van>();
  van->dir = directory;
  MPP_ASSIGN_OR_RETURN(van->store,
                       store::VanStore::Create(directory, secret, options, van->clock, van->rng));
  *out = van.release();
  return Ok();
}

Result<void> Open(const char* dir, mpp_van** out) {
  MPP_RETURN_IF_ERROR(Require(out, "place for the van handle"));
  MPP_ASSIGN_OR_RETURN(std::string directory, RequiredText(dir, "directory"));
  auto van = std::make_unique<mpp_van>();
  van->dir = directory;
  MPP_ASSIGN_OR_RETURN(van->store, store::VanStore::Open(directory, van->clock, van->rng));
  *out = van.release();
  return Ok();
}

Result<std::string> Status(mpp_van* van) {
  MPP_ASSIGN_OR_RETURN(store::VanStore * store, StoreOf(van));
  MPP_ASSIGN_OR_RETURN(store::DeviceInfo device, store->Device());
  return Dump(json{{"device_id", device.device_id},
                   {"van_code", device.van_code},
                   {"officer", device.officer},
                   {"fingerprint", device.fingerprint},
                   {"enrolled", device.enrolled_ms != 0},
                   {"server", device.server_url},
                   {"pending", device.pending},
                   {"last_sync_ms", device.last_sync_ms},
                   {"unlocked", store->unlocked()},
                   {"schema_version", device.schema_version}});
}

Result<std::string> Enroll(mpp_van* van, const char* enroll_json) {
  MPP_ASSIGN_OR_RETURN(store::VanStore * store, StoreOf(van));
  MPP_ASSIGN_OR_RETURN(json request, ParseObject(enroll_json, "the enrolment", kMaxSmallJsonBytes));
  MPP_RETURN_IF_ERROR(
      OnlyKeys(request, "the enrolment", {"qr", "server_url", "token", "fingerprint"}));
  MPP_ASSIGN_OR_RETURN(auto qr_text, OptionalString(request, "qr", "the enrolment"));
  MPP_ASSIGN_OR_RETURN(auto server_url, OptionalString(request, "server_url", "the enrolment"));
  MPP_ASSIGN_OR_RETURN(auto token, OptionalString(request, "token", "the enrolment"));
  MPP_ASSIGN_OR_RETURN(auto fingerprint, OptionalString(request, "fingerprint", "the enrolment"));
  if (qr_text) {
    if (server_url || token || fingerprint) {
      return Error::InvalidInput(
          "the enrolment: give the QR code, or the server, token and fingerprint, not both");
    }
    MPP_ASSIGN_OR_RETURN(sync::EnrollmentQr qr, sync::DecodeEnrollmentQr(*qr_text));
    server_url = qr.server_url;
    token = qr.token;
    fingerprint = qr.fingerprint;
  }
  if (!server_url || server_url->empty() || !token || token->empty()) {
    return Error::InvalidInput(
        "the enrolment needs the administrator's QR code, or the server's address and a token");
  }
  if (fingerprint && fingerprint->empty()) fingerprint.reset();
  MPP_ASSIGN_OR_RETURN(auto transport, TransportFor(*van, *server_url));
  MPP_ASSIGN_OR_RETURN(field::EnrollResult enrolled, field::Enroll(*store, *transport, *server_url,
                                                                   *token, fingerprint, van->rng));
  return Dump(json{{"device_id", enrolled.device_id},
                   {"server_fingerprint", enrolled.server_fingerprint},
                   {"trusted_on_first_use", enrolled.trusted_on_first_use}});
}

Result<std::string> Sync(mpp_van* van, const char* options_json, mpp_progress_fn progress,
                         void* progress_context, const mpp_cancel* cancel, bool& cancelled) {
  MPP_ASSIGN_OR_RETURN(store::VanStore * store, StoreOf(van));
  MPP_ASSIGN_OR_RETURN(json given,
                       ParseObject(options_json, "the sync options", kMaxSmallJsonBytes));
  MPP_RETURN_IF_ERROR(
      OnlyKeys(given, "the sync options",
               {"batch_size", "max_attempts", "initial_backoff_ms", "max_backoff_ms"}));
  field::SyncOptions options;
  // The bounds of mpp-field sync --batch-size and --attempts; backoff up to ten minutes.
  MPP_ASSIGN_OR_RETURN(auto batch, OptionalCount(given, "batch_size", "the sync options", 1, 5000));
  MPP_ASSIGN_OR_RETURN(auto attempts,
                       OptionalCount(given, "max_attempts", "the sync options", 1, 100));
  MPP_ASSIGN_OR_RETURN(auto initial,
                       OptionalCount(given, "initial_backoff_ms", "the sync options", 0, 600'000));
  MPP_ASSIGN_OR_RETURN(auto longest,
                       OptionalCount(given, "max_backoff_ms", "the sync options", 0, 600'000));
  if (batch) options.batch_size = static_cast<size_t>(*batch);
  if (attempts) options.max_attempts = static_cast<int>(*attempts);
  if (initial) options.initial_backoff = std::chrono::milliseconds(*initial);
  if (longest) options.max_backoff = std::chrono::milliseconds(*longest);
  if (cancel != nullptr) {
    // RunSync stops at once when this answers true, so a failed sync that saw it set was
    // cancelled (and not failing for another reason).
    options.cancelled = [cancel, &cancelled] {
      if (!cancel->set.load(std::memory_order_acquire)) return false;
      cancelled = true;
      return true;
    };
  }
  MPP_ASSIGN_OR_RETURN(store::DeviceInfo device, store->Device());
  if (device.server_url.empty()) return Error::InvalidInput(field::kNotEnrolledMessage);
  MPP_ASSIGN_OR_RETURN(auto transport, TransportFor(*van, device.server_url));
  field::SyncProgress on_progress;
  if (progress != nullptr) {
    on_progress = [progress, progress_context](const char* phase, size_t done, size_t total) {
      progress(progress_context, phase, done, total);
    };
  }
  MPP_ASSIGN_OR_RETURN(field::SyncReport report, field::RunSync(*store, *transport, van->clock,
                                                                van->rng, options, on_progress));
  return Dump(field::SyncReportToJson(report));
}

}  // namespace
}  // namespace mpp::capi

using mpp::Error;
using mpp::Ok;
using mpp::Result;
using mpp::capi::Guard;
using mpp::capi::GuardString;
using mpp::capi::StoreOf;

extern "C" {

// ---- Errors and strings ----

MPP_API mpp_error_code mpp_error_get_code(const mpp_error* error) MPP_NOEXCEPT {
  return error == nullptr ? MPP_OK : error->code;
}

MPP_API const char* mpp_error_message(const mpp_error* error) MPP_NOEXCEPT {
  return error == nullptr ? "" : error->message.c_str();
}

MPP_API int mpp_error_is_transient(const mpp_error* error) MPP_NOEXCEPT {
  if (error == nullptr) return 0;
  return error->code == MPP_ERR_UNAVAILABLE || error->code == MPP_ERR_TIMEOUT ||
         error->code == MPP_ERR_ABORTED;
}

MPP_API size_t mpp_error_detail_count(const mpp_error* error) MPP_NOEXCEPT {
  return error == nullptr ? 0 : error->details.size();
}

MPP_API const char* mpp_error_detail(const mpp_error* error, size_t i) MPP_NOEXCEPT {
  if (error == nullptr || i >= error->details.size()) return nullptr;
  return error->details[i].c_str();
}

MPP_API char* mpp_error_to_json(const mpp_error* error) MPP_NOEXCEPT {
  if (error == nullptr) return nullptr;
  try {
    json problems = error->details.empty() ? json::array({error->message}) : json(error->details);
    return mpp::capi::CopyOut(
        mpp::capi::Dump(json{{"code", mpp_error_code_name(error->code)},
                             {"code_value", static_cast<int>(error->code)},
                             {"message", error->message},
                             {"transient", mpp_error_is_transient(error) != 0},
                             {"problems", problems}}));
  } catch (...) {
    return nullptr;
  }
}

MPP_API void mpp_error_free(mpp_error* error) MPP_NOEXCEPT {
  if (!mpp::capi::IsOutOfMemoryError(error)) delete error;
}

MPP_API const char* mpp_error_code_name(mpp_error_code code) MPP_NOEXCEPT {
  switch (code) {
    case MPP_OK:
      return "ok";
    case MPP_ERR_INVALID_INPUT:
      return "invalid_input";
    case MPP_ERR_NOT_FOUND:
      return "not_found";
    case MPP_ERR_CONFLICT:
      return "conflict";
    case MPP_ERR_CORRUPT:
      return "corrupt";
    case MPP_ERR_UNAUTHENTICATED:
      return "unauthenticated";
    case MPP_ERR_PERMISSION_DENIED:
      return "permission_denied";
    case MPP_ERR_TOO_LARGE:
      return "too_large";
    case MPP_ERR_UNAVAILABLE:
      return "unavailable";
    case MPP_ERR_TIMEOUT:
      return "timeout";
    case MPP_ERR_STORAGE_FULL:
      return "storage_full";
    case MPP_ERR_ABORTED:
      return "aborted";
    case MPP_ERR_INTERNAL:
      return "internal";
    case MPP_ERR_CANCELLED:
      return "cancelled";
  }
  return "unknown";
}

MPP_API void mpp_string_free(char* text) MPP_NOEXCEPT { std::free(text); }

MPP_API const char* mpp_version(void) MPP_NOEXCEPT { return "mpp-field-c " MPP_FIELD_C_VERSION; }

// ---- Cancel tokens ----

MPP_API mpp_cancel* mpp_cancel_new(void) MPP_NOEXCEPT { return new (std::nothrow) mpp_cancel; }

MPP_API void mpp_cancel_set(mpp_cancel* cancel) MPP_NOEXCEPT {
  if (cancel != nullptr) cancel->set.store(true, std::memory_order_release);
}

MPP_API void mpp_cancel_reset(mpp_cancel* cancel) MPP_NOEXCEPT {
  if (cancel != nullptr) cancel->set.store(false, std::memory_order_release);
}

MPP_API int mpp_cancel_is_set(const mpp_cancel* cancel) MPP_NOEXCEPT {
  return cancel != nullptr && cancel->set.load(std::memory_order_acquire) ? 1 : 0;
}

MPP_API void mpp_cancel_free(mpp_cancel* cancel) MPP_NOEXCEPT { delete cancel; }

// ---- The van ----

MPP_API mpp_error_code mpp_van_create(const char* dir, const char* passphrase,
                                      const char* init_json, mpp_van** van,
                                      mpp_error** error) MPP_NOEXCEPT {
  if (van != nullptr) *van = nullptr;
  return Guard(error, [&] { return mpp::capi::Create(dir, passphrase, init_json, van); });
}

MPP_API mpp_error_code mpp_van_open(const char* dir, mpp_van** van,
                                    mpp_error** error) MPP_NOEXCEPT {
  if (van != nullptr) *van = nullptr;
  return Guard(error, [&] { return mpp::capi::Open(dir, van); });
}

MPP_API mpp_error_code mpp_van_unlock(mpp_van* van, const char* passphrase,
                                      mpp_error** error) MPP_NOEXCEPT {
  return Guard(error, [&]() -> Result<void> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_RETURN_IF_ERROR(mpp::capi::Require(passphrase, "passphrase"));
    return store->Unlock(passphrase);
  });
}

MPP_API mpp_error_code mpp_van_lock(mpp_van* van, mpp_error** error) MPP_NOEXCEPT {
  return Guard(error, [&]() -> Result<void> {
    MPP_RETURN_IF_ERROR(mpp::capi::Require(van, "van handle"));
    // The store has no way to forget its keys but to close: the old one goes first (its keys
    // are wiped as it closes), whatever happens to the reopening.
    van->store.reset();
    MPP_ASSIGN_OR_RETURN(van->store, mpp::store::VanStore::Open(van->dir, van->clock, van->rng));
    return Ok();
  });
}

MPP_API int mpp_van_is_unlocked(const mpp_van* van) MPP_NOEXCEPT {
  return van != nullptr && van->store && van->store->unlocked() ? 1 : 0;
}

MPP_API void mpp_van_close(mpp_van* van) MPP_NOEXCEPT { delete van; }

MPP_API mpp_error_code mpp_van_status(mpp_van* van, char** status_json,
                                      mpp_error** error) MPP_NOEXCEPT {
  return GuardString(status_json, error, [&] { return mpp::capi::Status(van); });
}

MPP_API mpp_error_code mpp_van_catalog(mpp_van* van, const char* agency, char** catalog_json,
                                       mpp_error** error) MPP_NOEXCEPT {
  return GuardString(catalog_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(const mpp::sync::Catalog catalog, store->Catalog());
    const std::string only = agency == nullptr ? "" : agency;
    if (!only.empty() && catalog.FindAgency(only) == nullptr) {
      return Error::NotFound("no agency \"" + only + "\" in the catalog");
    }
    return mpp::capi::Dump(mpp::sync::CatalogToJson(catalog, only));
  });
}

MPP_API mpp_error_code mpp_van_register(mpp_van* van, const char* service_id,
                                        const char* fields_json, const char* options_json,
                                        char** request_json, mpp_error** error) MPP_NOEXCEPT {
  return GuardString(request_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(std::string service, mpp::capi::RequiredText(service_id, "service"));
    MPP_ASSIGN_OR_RETURN(mpp::sync::FieldMap fields, mpp::capi::ParseFields(fields_json));
    MPP_ASSIGN_OR_RETURN(json given, mpp::capi::ParseObject(options_json, "the options",
                                                            mpp::capi::kMaxSmallJsonBytes));
    MPP_RETURN_IF_ERROR(mpp::capi::OnlyKeys(given, "the options", {"force"}));
    mpp::field::RegisterOptions options;
    if (auto force = given.find("force"); force != given.end()) {
      if (!force->is_boolean())
        return Error::InvalidInput("the options: \"force\" must be true or false");
      options.force = force->get<bool>();
    }
    return mpp::capi::ChangedRequest(mpp::field::RegisterRequest(*store, service, fields, options));
  });
}

MPP_API mpp_error_code mpp_van_update(mpp_van* van, const char* id_or_receipt,
                                      const char* fields_json, char** request_json,
                                      mpp_error** error) MPP_NOEXCEPT {
  return GuardString(request_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(std::string id, mpp::capi::RequiredText(id_or_receipt, "request"));
    MPP_ASSIGN_OR_RETURN(mpp::sync::FieldMap fields, mpp::capi::ParseFields(fields_json));
    return mpp::capi::ChangedRequest(mpp::field::UpdateRequest(*store, id, fields));
  });
}

MPP_API mpp_error_code mpp_van_cancel(mpp_van* van, const char* id_or_receipt, const char* reason,
                                      char** request_json, mpp_error** error) MPP_NOEXCEPT {
  return GuardString(request_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(std::string id, mpp::capi::RequiredText(id_or_receipt, "request"));
    const std::string why = reason == nullptr ? "" : reason;
    return mpp::capi::ChangedRequest(mpp::field::CancelRequest(*store, id, why));
  });
}

MPP_API mpp_error_code mpp_van_answer(mpp_van* van, const char* id_or_receipt,
                                      const char* fields_json, char** request_json,
                                      mpp_error** error) MPP_NOEXCEPT {
  return GuardString(request_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(std::string id, mpp::capi::RequiredText(id_or_receipt, "request"));
    MPP_ASSIGN_OR_RETURN(mpp::sync::FieldMap fields, mpp::capi::ParseFields(fields_json));
    return mpp::capi::ChangedRequest(mpp::field::AnswerRequest(*store, id, fields));
  });
}

MPP_API mpp_error_code mpp_van_deliver(mpp_van* van, const char* id_or_receipt, char** request_json,
                                       mpp_error** error) MPP_NOEXCEPT {
  return GuardString(request_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(std::string id, mpp::capi::RequiredText(id_or_receipt, "request"));
    return mpp::capi::ChangedRequest(mpp::field::DeliverRequest(*store, id));
  });
}

MPP_API mpp_error_code mpp_van_list(mpp_van* van, const char* filter_json, char** requests_json,
                                    mpp_error** error) MPP_NOEXCEPT {
  return GuardString(requests_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(json given, mpp::capi::ParseObject(filter_json, "the filter",
                                                            mpp::capi::kMaxSmallJsonBytes));
    MPP_RETURN_IF_ERROR(mpp::capi::OnlyKeys(given, "the filter", {"status", "service_id", "nik"}));
    mpp::store::RequestFilter filter;
    MPP_ASSIGN_OR_RETURN(auto status, mpp::capi::OptionalString(given, "status", "the filter"));
    if (status) {
      filter.status = mpp::sync::ParseStatus(*status);
      if (!filter.status)
        return Error::InvalidInput("the filter: unknown status \"" + *status + "\"");
    }
    MPP_ASSIGN_OR_RETURN(filter.service_id,
                         mpp::capi::OptionalString(given, "service_id", "the filter"));
    MPP_ASSIGN_OR_RETURN(filter.nik, mpp::capi::OptionalString(given, "nik", "the filter"));
    MPP_ASSIGN_OR_RETURN(auto rows, store->List(filter));
    json out = json::array();
    for (const auto& row : rows)
      out.push_back(mpp::capi::RequestJson(row.view, row.pending, false));
    return mpp::capi::Dump(out);
  });
}

MPP_API mpp_error_code mpp_van_show(mpp_van* van, const char* id_or_receipt, char** request_json,
                                    mpp_error** error) MPP_NOEXCEPT {
  return GuardString(request_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(std::string id, mpp::capi::RequiredText(id_or_receipt, "request"));
    MPP_ASSIGN_OR_RETURN(mpp::store::RequestRow row, store->Find(id));
    return mpp::capi::Dump(mpp::capi::RequestJson(row.view, row.pending, true));
  });
}

MPP_API mpp_error_code mpp_van_conflicts(mpp_van* van, char** conflicts_json,
                                         mpp_error** error) MPP_NOEXCEPT {
  return GuardString(conflicts_json, error, [&]() -> Result<std::string> {
    MPP_ASSIGN_OR_RETURN(mpp::store::VanStore * store, StoreOf(van));
    MPP_ASSIGN_OR_RETURN(auto conflicts, store->Conflicts());
    json out = json::array();
    for (const auto& c : conflicts) out.push_back(mpp::sync::ConflictToJson(c));
    return mpp::capi::Dump(out);
  });
}

MPP_API mpp_error_code mpp_van_set_transport(mpp_van* van, const mpp_transport* transport,
                                             mpp_error** error) MPP_NOEXCEPT {
  return Guard(error, [&]() -> Result<void> {
    MPP_RETURN_IF_ERROR(mpp::capi::Require(van, "van handle"));
    if (transport == nullptr) {
      van->transport.reset();
      return Ok();
    }
    if (transport->send == nullptr) {
      return Error::InvalidInput("no send function in the transport (NULL)");
    }
    van->transport = *transport;
    return Ok();
  });
}

MPP_API mpp_error_code mpp_van_enroll(mpp_van* van, const char* enroll_json, char** result_json,
                                      mpp_error** error) MPP_NOEXCEPT {
  return GuardString(result_json, error, [&] { return mpp::capi::Enroll(van, enroll_json); });
}

MPP_API mpp_error_code mpp_van_sync(mpp_van* van, const char* options_json,
                                    mpp_progress_fn progress, void* progress_context,
                                    const mpp_cancel* cancel, char** report_json,
                                    mpp_error** error) MPP_NOEXCEPT {
  bool cancelled = false;
  const mpp_error_code code = GuardString(report_json, error, [&] {
    return mpp::capi::Sync(van, options_json, progress, progress_context, cancel, cancelled);
  });
  if (code != MPP_OK && cancelled) {
    if (error != nullptr && *error != nullptr && !mpp::capi::IsOutOfMemoryError(*error)) {
      (*error)->code = MPP_ERR_CANCELLED;
    }
    return MPP_ERR_CANCELLED;
  }
  return code;
}

}  // extern "C"
