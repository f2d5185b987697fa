// What an officer does with the van's store, offline: register, import, correct, cancel and
// deliver requests. Each is one VanStore::Commit, so each is one transaction with its mutation.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mpp/field/import_line.h"
#include "mpp/store/van_store.h"
#include "mpp/sync/catalog.h"
#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::field {

// Every use case below first puts what the officer typed into the form's stored spelling
// (Catalog::NormaliseForm: dates DD-MM-YYYY become YYYY-MM-DD, phone numbers +62... become
// 08..., enum values take the catalog's spelling), then validates: a form's problems are
// reported all at once (Error::details(), one per field).

// The open (not final) requests on this van for the same service and the same citizen (the
// form's "nik"), which registering `fields` would duplicate.
Result<std::vector<sync::Request>> OpenDuplicates(store::VanStore& store,
                                                  const std::string& service_id,
                                                  const sync::FieldMap& fields);

struct RegisterOptions {
  // Register even when OpenDuplicates finds some (the citizen really asks twice).
  bool force = false;
};
// Registers a new request after validating it against the service's form. kConflict, naming
// the earlier receipts and saving nothing, when the citizen already has an open request for the
// service on this van and options.force is not set.
Result<sync::Request> RegisterRequest(store::VanStore& store, const std::string& service_id,
                                      const sync::FieldMap& fields,
                                      const RegisterOptions& options = {});
// Changes some fields of a request (the officer corrects or completes the form).
Result<sync::Request> UpdateRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields);
// Cancels an open request at the citizen's wish; the reason is kept in the history.
Result<sync::Request> CancelRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const std::string& reason);
// Hands the finished document over: only a completed request can be delivered. The status note
// says who received it ("diserahkan kepada NAME") when `received_by` is given (a name: one line,
// at most 100 characters).
Result<sync::Request> DeliverRequest(store::VanStore& store, const std::string& id_or_receipt,
                                     const std::string& received_by = "");
// Answers a needs_info request: updates at least one field and moves it back to in_review.
Result<sync::Request> AnswerRequest(store::VanStore& store, const std::string& id_or_receipt,
                                    const sync::FieldMap& fields);

struct ImportRefusal {
  size_t line = 0;  // 1-based
  std::string reason;
  // Refused only because the citizen already has an open request for the service (on this van
  // or on an earlier line): RegisterOptions::force would import it.
  bool duplicate = false;
};
struct ImportReport {
  size_t imported = 0;
  std::vector<ImportRefusal> refused;
};

// Imports a JSON Lines file: valid lines are stored, up to kImportBatch lines per transaction;
// refused lines (bad JSON, refused by the catalog, or, unless options.force, a citizen who
// already has an open request for the service on this van or on an earlier line of the file)
// are reported in line order with their number and reason and change nothing.
// progress(lines_done, total_bytes read so far) is called after each batch.
inline constexpr size_t kImportBatch = 2000;
Result<ImportReport> ImportFile(store::VanStore& store, const std::string& path,
                                const std::function<void(size_t, size_t)>& progress,
                                const RegisterOptions& options = {});

}  // namespace mpp::field
