/* mpp_field.h: the van's C API, for apps that are not C++ (Android through JNI, Flutter through
 * dart:ffi, iOS through Swift). It wraps the van's store and sync (mpp_field, mpp_store): open
 * and unlock the encrypted store, register and change citizens' requests offline, enrol with
 * the central server and sync with it. Requests, forms and reports go in and out as JSON.
 *
 * THREADS
 *  - An mpp_van is not thread-safe: call it from one thread at a time. The host may move it
 *    between threads (a single-thread executor, a Dart isolate) as long as calls never overlap.
 *    Two mpp_van handles on the same directory, in one process or several, are safe: the store
 *    serialises their writes.
 *  - mpp_van_sync and mpp_van_enroll call the progress callback and the transport callback on
 *    the thread that called them, before they return. A callback must not call the same mpp_van.
 *  - mpp_cancel_set and mpp_cancel_is_set may be called from any thread, at any time.
 *  - mpp_error_* and mpp_string_free may be called from any thread on what they were given.
 *  - Every other function is safe to call from any thread on its own arguments.
 *
 * ERRORS
 *  Every fallible function returns an mpp_error_code (MPP_OK, 0, on success) and, when `error`
 *  is not NULL, sets *error: to NULL on success, else to a new mpp_error that the caller frees
 *  with mpp_error_free. No C++ exception crosses this API; running out of memory is an
 *  MPP_ERR_INTERNAL error. Messages are English sentences an officer can act on ("this van is
 *  not enrolled with the central server: enrol it before syncing"); a form's errors also list
 *  every field's problem (mpp_error_detail, and "problems" in mpp_error_to_json).
 *
 * OWNERSHIP
 *  - Every `char**` out-parameter receives a NUL-terminated UTF-8 string (JSON unless said
 *    otherwise) owned by the caller, freed with mpp_string_free. It is set to NULL on failure.
 *  - `const char*` results of mpp_error_message, mpp_error_detail, mpp_error_code_name and
 *    mpp_version stay valid until their mpp_error is freed (the last two: forever).
 *  - Handles are freed by their own function: mpp_van_close, mpp_error_free, mpp_cancel_free.
 *    Each accepts NULL.
 *  - Input strings are only read during the call: the caller keeps ownership.
 *
 * The long form, with Android and Flutter examples: field_capi/README.md.
 */
#ifndef MPP_FIELD_H_
#define MPP_FIELD_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MPP_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MPP_API __attribute__((visibility("default")))
#else
#define MPP_API
#endif

/* Every function is noexcept for C++ callers: nothing is ever thrown across this API. */
#ifdef __cplusplus
#define MPP_NOEXCEPT noexcept
#else
#define MPP_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ---------------------------------------------------------------------------- */

/* The codes of the library's errors (mpp::ErrorCode, sync/include/mpp/sync/result.h), in the
 * same order, plus MPP_ERR_CANCELLED. Values are stable: new codes are only appended. */
typedef enum mpp_error_code {
  MPP_OK = 0,
  MPP_ERR_INVALID_INPUT = 1,     /* the input is wrong; the same input cannot succeed */
  MPP_ERR_NOT_FOUND = 2,         /* no such request, store or service */
  MPP_ERR_CONFLICT = 3,          /* the state changed, or the citizen already has an open request */
  MPP_ERR_CORRUPT = 4,           /* stored or received bytes do not decode */
  MPP_ERR_UNAUTHENTICATED = 5,   /* wrong passphrase, store locked, bad signature */
  MPP_ERR_PERMISSION_DENIED = 6, /* the server no longer allows this van (revoked) */
  MPP_ERR_TOO_LARGE = 7,         /* input or answer over a size bound */
  MPP_ERR_UNAVAILABLE = 8,       /* no network, the server down or busy: try again later */
  MPP_ERR_TIMEOUT = 9,           /* the network ran out of time: try again later */
  MPP_ERR_STORAGE_FULL = 10,     /* the device's disk is full */
  MPP_ERR_ABORTED = 11,          /* a transaction was aborted: run it again */
  MPP_ERR_INTERNAL = 12,         /* a bug or an unexpected failure (out of memory) */
  /* The sync stopped because its mpp_cancel was set (C API only: the library reports a cancel
   * as MPP_ERR_UNAVAILABLE). What the server acknowledged stays acknowledged. */
  MPP_ERR_CANCELLED = 13
} mpp_error_code;

typedef struct mpp_error mpp_error;

MPP_API mpp_error_code mpp_error_get_code(const mpp_error* error) MPP_NOEXCEPT;
/* One line, never NULL for a non-NULL error. */
MPP_API const char* mpp_error_message(const mpp_error* error) MPP_NOEXCEPT;
/* 1 when the same call may succeed later (MPP_ERR_UNAVAILABLE, _TIMEOUT, _ABORTED). */
MPP_API int mpp_error_is_transient(const mpp_error* error) MPP_NOEXCEPT;
/* The separate problems (one per invalid field of a form); 0 when the message says it all. */
MPP_API size_t mpp_error_detail_count(const mpp_error* error) MPP_NOEXCEPT;
/* The i-th problem, or NULL when i >= mpp_error_detail_count. */
MPP_API const char* mpp_error_detail(const mpp_error* error, size_t i) MPP_NOEXCEPT;
/* {"code": "invalid_input", "code_value": 1, "message": "...", "transient": false,
 *  "problems": ["...", ...]} ("problems" holds the message when there are no details). Caller
 * frees with mpp_string_free; NULL when out of memory. */
MPP_API char* mpp_error_to_json(const mpp_error* error) MPP_NOEXCEPT;
MPP_API void mpp_error_free(mpp_error* error) MPP_NOEXCEPT;
/* "invalid_input", "not_found", ... "cancelled"; "unknown" for a value not in the enum. */
MPP_API const char* mpp_error_code_name(mpp_error_code code) MPP_NOEXCEPT;

/* Frees a string this API returned. NULL is fine. */
MPP_API void mpp_string_free(char* text) MPP_NOEXCEPT;

/* "mpp-field-c 0.1.0": the library's version. */
MPP_API const char* mpp_version(void) MPP_NOEXCEPT;

/* ---- Cancelling a sync ----------------------------------------------------------------- */

/* A flag the host sets from any thread (a "cancel" button) to stop a running sync. The sync
 * asks it before each request and every 100 ms while it waits to retry; a request already in
 * flight ends first (with the transport callback, the host may check mpp_cancel_is_set and
 * abort its own call). One token may serve several syncs, one after the other; it stays set
 * until mpp_cancel_reset. Free it only when no sync uses it. */
typedef struct mpp_cancel mpp_cancel;
MPP_API mpp_cancel* mpp_cancel_new(void) MPP_NOEXCEPT; /* NULL when out of memory */
MPP_API void mpp_cancel_set(mpp_cancel* cancel) MPP_NOEXCEPT;
MPP_API void mpp_cancel_reset(mpp_cancel* cancel) MPP_NOEXCEPT;
MPP_API int mpp_cancel_is_set(const mpp_cancel* cancel) MPP_NOEXCEPT;
MPP_API void mpp_cancel_free(mpp_cancel* cancel) MPP_NOEXCEPT;

/* ---- The host's HTTP stack (optional) -------------------------------------------------- */

/* What the library asks the host to send. Valid during the callback only. */
typedef struct mpp_http_request {
  const char* method;       /* "GET" or "POST" */
  const char* path;         /* "/v1/push": append it to the server's base URL */
  const char* content_type; /* send as the Content-Type header; "" for a GET */
  const uint8_t* body;      /* body_len bytes (NULL when 0) */
  size_t body_len;
} mpp_http_request;

/* Where the host puts the answer, through the setters below. The library copies what it is
 * given during each setter call: the host keeps (and frees) its own buffers, and needs no
 * allocator of ours. Valid during the callback only. */
typedef struct mpp_http_response mpp_http_response;
MPP_API void mpp_http_response_set_status(mpp_http_response* response,
                                          int http_status) MPP_NOEXCEPT;
/* The answer's Content-Type header, as received ("application/octet-stream"): the library
 * tells a signed refusal from other answers by it. */
MPP_API void mpp_http_response_set_content_type(mpp_http_response* response,
                                                const char* content_type) MPP_NOEXCEPT;
/* Appends body bytes (call once with the whole body, or once per chunk read). MPP_OK, or
 * MPP_ERR_TOO_LARGE past 64 MiB (the host should stop reading and return nonzero). */
MPP_API mpp_error_code mpp_http_response_append_body(mpp_http_response* response,
                                                     const uint8_t* data, size_t len) MPP_NOEXCEPT;
/* Why no answer arrived, when the callback returns nonzero: MPP_ERR_UNAVAILABLE (no network,
 * connection refused or cut: the sync retries), MPP_ERR_TIMEOUT (retried too), or another code
 * (the sync stops). Without it, a nonzero return means MPP_ERR_UNAVAILABLE. */
MPP_API void mpp_http_response_set_error(mpp_http_response* response, mpp_error_code code,
                                         const char* message) MPP_NOEXCEPT;

/* Sends one request and waits for the whole answer. Returns 0 when an HTTP answer arrived,
 * whatever its status (a 409 or a 503 is an answer: set its status, content type and body),
 * nonzero when none did. Must not retry nor follow redirects: the sync decides when to retry.
 * Called on the thread that called mpp_van_enroll or mpp_van_sync. */
typedef int (*mpp_transport_send_fn)(void* context, const mpp_http_request* request,
                                     mpp_http_response* response);

typedef struct mpp_transport {
  mpp_transport_send_fn send;
  void* context; /* passed to send; must stay valid while the transport is set */
} mpp_transport;

/* ---- The van --------------------------------------------------------------------------- */

typedef struct mpp_van mpp_van;

/* Creates a new store in `dir` (created if missing; fails when one exists there) and returns
 * it unlocked. `init_json`: {"van_code": "KR01", "officer": "Rahmat Hidayat", "catalog": {...}
 * (optional: the catalog document; default: the built-in one), "kdf_memory_kib": 65536
 * (optional: the Argon2id memory cost, 8 to 4194304)}. A passphrase too easy to guess is
 * refused (MPP_ERR_INVALID_INPUT, saying why). */
MPP_API mpp_error_code mpp_van_create(const char* dir, const char* passphrase,
                                      const char* init_json, mpp_van** van,
                                      mpp_error** error) MPP_NOEXCEPT;
/* Opens the store in `dir`, locked: status and catalog work, the rest needs mpp_van_unlock.
 * MPP_ERR_NOT_FOUND when `dir` holds no store. */
MPP_API mpp_error_code mpp_van_open(const char* dir, mpp_van** van, mpp_error** error) MPP_NOEXCEPT;
/* Unlocks the store (deliberately slow: a key derivation). MPP_ERR_UNAUTHENTICATED for a wrong
 * passphrase; nothing changes either way. */
MPP_API mpp_error_code mpp_van_unlock(mpp_van* van, const char* passphrase,
                                      mpp_error** error) MPP_NOEXCEPT;
/* Forgets the unlocked keys (the app goes to the background, the officer steps away): calls
 * needing personal data then fail with MPP_ERR_UNAUTHENTICATED until mpp_van_unlock. */
MPP_API mpp_error_code mpp_van_lock(mpp_van* van, mpp_error** error) MPP_NOEXCEPT;
/* 1 when unlocked, 0 when locked (or van is NULL). */
MPP_API int mpp_van_is_unlocked(const mpp_van* van) MPP_NOEXCEPT;
/* Closes the store and frees the handle. NULL is fine. */
MPP_API void mpp_van_close(mpp_van* van) MPP_NOEXCEPT;

/* {"device_id", "van_code", "officer", "fingerprint", "enrolled": bool, "server": url or "",
 *  "pending": changes not yet synced, "last_sync_ms": 0 for never, "unlocked": bool,
 *  "schema_version"}. Works locked. */
MPP_API mpp_error_code mpp_van_status(mpp_van* van, char** status_json,
                                      mpp_error** error) MPP_NOEXCEPT;
/* The catalog: {"agencies": [...], "services": [{"id", "agency", "name", "fields"}], ...};
 * `agency` NULL or "" for all of them. Works locked. */
MPP_API mpp_error_code mpp_van_catalog(mpp_van* van, const char* agency, char** catalog_json,
                                       mpp_error** error) MPP_NOEXCEPT;

/* ---- Requests (offline; each needs the store unlocked) ---------------------------------- */
/* A request in JSON: {"id", "receipt", "service_id", "status", "status_note", "device_id",
 * "officer", "created", "fields": {name: value}, "pending": bool}, plus "history" from
 * mpp_van_show. `fields_json` is an object of strings: {"nik": "6112...", "name": "..."}. */

/* Registers a new request. `options_json` NULL or {"force": true}: register even when the
 * citizen (the form's "nik") already has an open request for the service on this van, which
 * is otherwise refused with MPP_ERR_CONFLICT naming the earlier receipt. */
MPP_API mpp_error_code mpp_van_register(mpp_van* van, const char* service_id,
                                        const char* fields_json, const char* options_json,
                                        char** request_json, mpp_error** error) MPP_NOEXCEPT;
/* Changes fields of a request (by id or receipt number). */
MPP_API mpp_error_code mpp_van_update(mpp_van* van, const char* id_or_receipt,
                                      const char* fields_json, char** request_json,
                                      mpp_error** error) MPP_NOEXCEPT;
/* Cancels an open request at the citizen's wish; `reason` is kept in its history. */
MPP_API mpp_error_code mpp_van_cancel(mpp_van* van, const char* id_or_receipt, const char* reason,
                                      char** request_json, mpp_error** error) MPP_NOEXCEPT;
/* Answers a needs_info request: at least one field; it goes back to in_review. */
MPP_API mpp_error_code mpp_van_answer(mpp_van* van, const char* id_or_receipt,
                                      const char* fields_json, char** request_json,
                                      mpp_error** error) MPP_NOEXCEPT;
/* Hands the finished document over: only a completed request can be delivered. */
MPP_API mpp_error_code mpp_van_deliver(mpp_van* van, const char* id_or_receipt, char** request_json,
                                       mpp_error** error) MPP_NOEXCEPT;
/* The requests on this van, as a JSON array. `filter_json` NULL or {"status": "needs_info",
 * "service_id": "...", "nik": "..."} (each optional). */
MPP_API mpp_error_code mpp_van_list(mpp_van* van, const char* filter_json, char** requests_json,
                                    mpp_error** error) MPP_NOEXCEPT;
/* One request with its history, by id or receipt number. */
MPP_API mpp_error_code mpp_van_show(mpp_van* van, const char* id_or_receipt, char** request_json,
                                    mpp_error** error) MPP_NOEXCEPT;
/* The conflicts the server reported, as a JSON array of {"request_id", "field", "kept_value",
 * "kept_by", "lost_value", "lost_by", "reason"}. */
MPP_API mpp_error_code mpp_van_conflicts(mpp_van* van, char** conflicts_json,
                                         mpp_error** error) MPP_NOEXCEPT;

/* ---- With the server ------------------------------------------------------------------- */

/* The HTTP stack of mpp_van_enroll and mpp_van_sync: the host's (`transport` copied; its
 * context must stay valid until replaced or the van closes), or libcurl to the server's URL
 * when `transport` is NULL (the default). */
MPP_API mpp_error_code mpp_van_set_transport(mpp_van* van, const mpp_transport* transport,
                                             mpp_error** error) MPP_NOEXCEPT;

/* Enrols the van with the central server, once. `enroll_json`: {"qr": "MPPQR1|..."} (the
 * administrator's QR code as scanned), or {"server_url": "https://...", "token": "...",
 * "fingerprint": "SHA256:..." (optional but strongly advised: without it the server's key is
 * trusted on first use)}. Needs the store unlocked. Result: {"device_id",
 * "server_fingerprint", "trusted_on_first_use": bool}. */
MPP_API mpp_error_code mpp_van_enroll(mpp_van* van, const char* enroll_json, char** result_json,
                                      mpp_error** error) MPP_NOEXCEPT;

/* Called during a sync: phase "push" (done of total changes acknowledged) or "pull" (done
 * requests received; total 0: unknown). */
typedef void (*mpp_progress_fn)(void* context, const char* phase, size_t done, size_t total);

/* Pushes the changes not yet sent, then pulls the server's, with retries on a failing link.
 * Needs the store unlocked and the van enrolled. `options_json` NULL or {"batch_size": 1000,
 * "max_attempts": 8, "initial_backoff_ms": 500, "max_backoff_ms": 30000} (each optional).
 * `progress` and `cancel` may be NULL. Every change stays saved on the van whatever happens;
 * a failed or cancelled sync is simply run again later. The report: {"pushed",
 * "acknowledged", "pulled", "conflicts", "retries", "duration_ms", "bytes_sent",
 * "bytes_received", "server_restored", "store_restored", "renumbered", "resent",
 * "reissued_receipts": [{"old", "new"}], "changes": [{"kind": "status"|"field"|"conflict",
 * "request_id", "receipt", "field", "old_value", "new_value", "note", "by", "text"}],
 * "new_requests"}. */
MPP_API mpp_error_code mpp_van_sync(mpp_van* van, const char* options_json,
                                    mpp_progress_fn progress, void* progress_context,
                                    const mpp_cancel* cancel, char** report_json,
                                    mpp_error** error) MPP_NOEXCEPT;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MPP_FIELD_H_ */
