/* The C API (field_capi/include/mpp_field.h) end to end, in C, against a real mpp-server that
 * tests/capi/run_capi_test.py started: a store made and reopened, a wrong passphrase, the
 * catalog, a form with a bad NIK, enrolment, syncs with progress, staff changes made with
 * `mpp-server request set-status`, answer and deliver as the state machine allows, a cancelled
 * sync, the host's transport callback (one that fails, one that forwards over libcurl), and a
 * locked store.
 *
 *   capi_test SERVER_URL SERVER_FINGERPRINT TOKEN MPP_SERVER_BIN WORK_DIR
 *
 * MPP_SERVER_DATA in the environment names the server's data directory. Exit 0 when every
 * check passed; each failed check prints one line. */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpp_field.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Checks that a call succeeded; prints its error otherwise. */
/* `error` is read after the call (an argument's value would be read before it). */
static int ok(mpp_error_code code, mpp_error** slot, const char* what) {
  mpp_error* error = *slot;
  *slot = NULL;
  if (code == MPP_OK && error == NULL) return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, mpp_error_message(error),
          mpp_error_code_name(code));
  ++failures;
  mpp_error_free(error);
  return 0;
}

/* Checks that a call failed with `expected` and that its message contains `words`. */
static void fails_with(mpp_error_code code, mpp_error** slot, mpp_error_code expected,
                       const char* words, const char* what) {
  mpp_error* error = *slot;
  *slot = NULL;
  if (code != expected || error == NULL || mpp_error_get_code(error) != expected ||
      (words != NULL && strstr(mpp_error_message(error), words) == NULL)) {
    fprintf(stderr, "%s: expected %s containing \"%s\", got %s: %s\n", what,
            mpp_error_code_name(expected), words ? words : "", mpp_error_code_name(code),
            error ? mpp_error_message(error) : "(no error)");
    ++failures;
  }
  mpp_error_free(error);
}

static int contains(const char* text, const char* words) {
  return text != NULL && strstr(text, words) != NULL;
}

/* The value of "key": "..." in flat JSON text, copied into out (enough for receipts, ids). */
static int json_string(const char* json, const char* key, char* out, size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char* at = strstr(json, pattern);
  if (at == NULL) return 0;
  at += strlen(pattern);
  const char* end = strchr(at, '"');
  if (end == NULL || (size_t)(end - at) >= size) return 0;
  memcpy(out, at, (size_t)(end - at));
  out[end - at] = '\0';
  return 1;
}

/* Runs `mpp-server ARGS...` (the staff side) to completion; 1 when it exited 0. */
static const char* server_bin;
static int staff(const char* a1, const char* a2, const char* a3, const char* a4, const char* a5,
                 const char* a6, const char* a7, const char* a8) {
  const char* argv[] = {server_bin, a1, a2, a3, a4, a5, a6, a7, a8, NULL};
  pid_t pid = fork();
  if (pid == 0) {
    execv(server_bin, (char* const*)argv);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static const char* kPassphrase = "sampan-biru-KR01-pagi-hujan";
static const char* kKtpForm =
    "{\"nik\": \"6112054101900001\", \"name\": \"Siti Aminah\", \"birth_date\": \"1990-01-01\","
    " \"address\": \"Jl. Sungai Raya Dalam No. 12, RT 003/RW 002, Desa Sungai Raya\","
    " \"village_code\": \"61.12.05.2001\", \"phone\": \"081234567890\", \"alasan\": \"baru\","
    " \"agama\": \"islam\", \"status_kawin\": \"kawin tercatat\","
    " \"pekerjaan\": \"petani/pekebun\"}";

/* ---- progress and transports ---- */

struct progress_seen {
  int calls;
  size_t last_done;
};
static void on_progress(void* context, const char* phase, size_t done, size_t total) {
  struct progress_seen* seen = context;
  (void)total;
  if (strcmp(phase, "push") == 0 || strcmp(phase, "pull") == 0) ++seen->calls;
  seen->last_done = done;
}

/* A host transport that never reaches the server (a phone in airplane mode). */
static int failing_send(void* context, const mpp_http_request* request,
                        mpp_http_response* response) {
  int* calls = context;
  (void)request;
  ++*calls;
  mpp_http_response_set_error(response, MPP_ERR_UNAVAILABLE, "airplane mode is on");
  return 1;
}

/* A host transport over libcurl, as an app's would be over OkHttp or URLSession. */
struct forwarder {
  const char* base_url;
  int calls;
};
static size_t on_body(char* data, size_t size, size_t count, void* response) {
  if (mpp_http_response_append_body(response, (const uint8_t*)data, size * count) != MPP_OK) {
    return 0; /* stops the transfer */
  }
  return size * count;
}
static int forwarding_send(void* context, const mpp_http_request* request,
                           mpp_http_response* response) {
  struct forwarder* f = context;
  ++f->calls;
  char url[512];
  snprintf(url, sizeof url, "%s%s", f->base_url, request->path);
  CURL* curl = curl_easy_init();
  if (curl == NULL) return 1;
  struct curl_slist* headers = NULL;
  char content_type[256];
  snprintf(content_type, sizeof content_type, "Content-Type: %s", request->content_type);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
  if (strcmp(request->method, "POST") == 0) {
    headers = curl_slist_append(headers, content_type);
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char*)request->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_len);
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
  CURLcode rc = curl_easy_perform(curl);
  int failed = 1;
  if (rc == CURLE_OK) {
    long status = 0;
    char* type = NULL;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    mpp_http_response_set_status(response, (int)status);
    mpp_http_response_set_content_type(response, type ? type : "");
    failed = 0;
  } else {
    mpp_http_response_set_error(response, MPP_ERR_UNAVAILABLE, curl_easy_strerror(rc));
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return failed;
}

/* One sync; returns its code and frees what it got. */
static mpp_error_code sync_once(mpp_van* van, const char* options, struct progress_seen* seen,
                                const mpp_cancel* cancel, char** report, mpp_error** error) {
  return mpp_van_sync(van, options, seen ? on_progress : NULL, seen, cancel, report, error);
}

/* A staff member (rina) moves a request on, as the dashboard would. */
static int set_status(const char* receipt, const char* status, const char* note) {
  if (note != NULL) {
    return staff("request", "set-status", receipt, status, "--by", "rina", "--note", note);
  }
  return staff("request", "set-status", receipt, status, "--by", "rina", NULL, NULL);
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: capi_test SERVER_URL FINGERPRINT TOKEN MPP_SERVER_BIN WORK_DIR\n");
    return 2;
  }
  const char* server_url = argv[1];
  const char* fingerprint = argv[2];
  const char* token = argv[3];
  server_bin = argv[4];
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/van-KR01", argv[5]);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  mpp_van* van = NULL;
  mpp_error* error = NULL;
  char* out = NULL;
  printf("%s\n", mpp_version());

  /* A passphrase too easy to guess is refused, and the store is made with a good one. */
  const char* init =
      "{\"van_code\": \"KR01\", \"officer\": \"Rahmat Hidayat\","
      " \"kdf_memory_kib\": 8192}";
  fails_with(mpp_van_create(dir, "password", init, &van, &error), &error, MPP_ERR_INVALID_INPUT,
             "passphrase too easy to guess", "weak passphrase");
  CHECK(van == NULL);
  error = NULL;
  fails_with(
      mpp_van_create(dir, kPassphrase, "{\"van_code\": \"KR01\", \"offcer\": \"x\"}", &van, &error),
      &error, MPP_ERR_INVALID_INPUT, "unknown key \"offcer\"", "misspelt setting");
  error = NULL;
  if (!ok(mpp_van_create(dir, kPassphrase, init, &van, &error), &error, "create")) return 1;
  CHECK(mpp_van_is_unlocked(van) == 1);
  mpp_van_close(van);

  /* Reopened locked: the status works, personal data needs the passphrase. */
  van = NULL;
  if (!ok(mpp_van_open(dir, &van, &error), &error, "open")) return 1;
  CHECK(mpp_van_is_unlocked(van) == 0);
  fails_with(mpp_van_list(van, NULL, &out, &error), &error, MPP_ERR_UNAUTHENTICATED, "locked",
             "list while locked");
  CHECK(out == NULL);
  error = NULL;
  fails_with(mpp_van_unlock(van, "sampan-merah-salah", &error), &error, MPP_ERR_UNAUTHENTICATED,
             NULL, "wrong passphrase");
  error = NULL;
  if (!ok(mpp_van_unlock(van, kPassphrase, &error), &error, "unlock")) return 1;

  if (ok(mpp_van_status(van, &out, &error), &error, "status")) {
    CHECK(contains(out, "\"van_code\":\"KR01\""));
    CHECK(contains(out, "\"enrolled\":false"));
    CHECK(contains(out, "\"unlocked\":true"));
    mpp_string_free(out);
  }
  error = NULL;
  if (ok(mpp_van_catalog(van, "dukcapil", &out, &error), &error, "catalog")) {
    CHECK(contains(out, "dukcapil.ktp-el"));
    mpp_string_free(out);
  }
  error = NULL;

  /* A form with a bad NIK and no name: every field's problem is listed. */
  mpp_error_code code =
      mpp_van_register(van, "dukcapil.ktp-el",
                       "{\"nik\": \"12345\", \"birth_date\": \"1990-01-01\"}", NULL, &out, &error);
  CHECK(code == MPP_ERR_INVALID_INPUT);
  CHECK(out == NULL);
  if (error != NULL) {
    int names_nik = 0, names_name = 0;
    for (size_t i = 0; i < mpp_error_detail_count(error); ++i) {
      names_nik |= contains(mpp_error_detail(error, i), "nik") ||
                   contains(mpp_error_detail(error, i), "NIK");
      names_name |= contains(mpp_error_detail(error, i), "name");
    }
    CHECK(mpp_error_detail_count(error) >= 2);
    CHECK(names_nik);
    CHECK(names_name);
    char* problems = mpp_error_to_json(error);
    CHECK(contains(problems, "\"code\":\"invalid_input\""));
    CHECK(contains(problems, "\"problems\":["));
    mpp_string_free(problems);
    mpp_error_free(error);
  }
  error = NULL;

  char receipt[64] = "", id[64] = "";
  if (ok(mpp_van_register(van, "dukcapil.ktp-el", kKtpForm, NULL, &out, &error), &error,
         "register")) {
    CHECK(json_string(out, "receipt", receipt, sizeof receipt));
    CHECK(json_string(out, "id", id, sizeof id));
    CHECK(contains(out, "\"status\":\"submitted\""));
    mpp_string_free(out);
  }
  error = NULL;
  fails_with(mpp_van_register(van, "dukcapil.ktp-el", kKtpForm, NULL, &out, &error), &error,
             MPP_ERR_CONFLICT, receipt, "the same citizen twice");
  error = NULL;

  /* Not enrolled yet: the sync says so, in the domain's words. */
  fails_with(sync_once(van, NULL, NULL, NULL, &out, &error), &error, MPP_ERR_INVALID_INPUT,
             "this van is not enrolled", "sync before enrolment");
  error = NULL;

  char enroll[1024];
  snprintf(enroll, sizeof enroll,
           "{\"server_url\": \"%s\", \"token\": \"%s\", \"fingerprint\": \"%s\"}", server_url,
           token, fingerprint);
  if (ok(mpp_van_enroll(van, enroll, &out, &error), &error, "enroll")) {
    CHECK(contains(out, "\"trusted_on_first_use\":false"));
    mpp_string_free(out);
  }
  error = NULL;

  /* The first sync pushes the request, with progress. */
  struct progress_seen seen = {0, 0};
  if (ok(sync_once(van, NULL, &seen, NULL, &out, &error), &error, "first sync")) {
    CHECK(contains(out, "\"pushed\":1"));
    CHECK(contains(out, "\"acknowledged\":1"));
    mpp_string_free(out);
  }
  error = NULL;
  CHECK(seen.calls >= 1);

  /* Staff ask for more information; the van sees the status and the note. */
  CHECK(set_status(receipt, "received", NULL));
  CHECK(set_status(receipt, "in_review", NULL));
  CHECK(set_status(receipt, "needs_info", "Mohon lampirkan pas foto"));
  seen.calls = 0;
  if (ok(sync_once(van, NULL, &seen, NULL, &out, &error), &error, "second sync")) {
    CHECK(contains(out, "needs_info"));
    mpp_string_free(out);
  }
  error = NULL;
  if (ok(mpp_van_show(van, receipt, &out, &error), &error, "show")) {
    CHECK(contains(out, "\"status\":\"needs_info\""));
    CHECK(contains(out, "Mohon lampirkan pas foto"));
    CHECK(contains(out, "\"history\":["));
    mpp_string_free(out);
  }
  error = NULL;

  /* Only a completed request can be delivered; the officer answers first. */
  fails_with(mpp_van_deliver(van, receipt, &out, &error), &error, MPP_ERR_INVALID_INPUT,
             "only a completed request can be delivered", "deliver too early");
  error = NULL;
  fails_with(mpp_van_answer(van, receipt, "{}", &out, &error), &error, MPP_ERR_INVALID_INPUT,
             "at least one field", "an empty answer");
  error = NULL;
  if (ok(mpp_van_answer(van, receipt, "{\"catatan\": \"pas foto dilampirkan\"}", &out, &error),
         &error, "answer")) {
    CHECK(contains(out, "\"status\":\"in_review\""));
    mpp_string_free(out);
  }
  error = NULL;
  if (ok(sync_once(van, NULL, NULL, NULL, &out, &error), &error, "sync of the answer")) {
    mpp_string_free(out);
  }
  error = NULL;
  CHECK(set_status(receipt, "completed", NULL));
  if (ok(sync_once(van, NULL, NULL, NULL, &out, &error), &error, "sync of the completion")) {
    CHECK(contains(out, "completed"));
    mpp_string_free(out);
  }
  error = NULL;
  if (ok(mpp_van_deliver(van, receipt, &out, &error), &error, "deliver")) {
    CHECK(contains(out, "\"status\":\"delivered\""));
    mpp_string_free(out);
  }
  error = NULL;

  /* A second request, cancelled by the citizen: a reason is needed. */
  char other[64] = "";
  const char* form2 =
      "{\"nik\": \"6112054101900002\", \"name\": \"Dewi Lestari\", \"birth_date\": \"1990-01-01\","
      " \"address\": \"Jl. Adisucipto No. 12, Desa Arang Limbung\","
      " \"village_code\": \"61.12.05.2001\", \"phone\": \"081234567891\", \"alasan\": \"baru\","
      " \"agama\": \"islam\", \"status_kawin\": \"belum kawin\", \"pekerjaan\": \"guru\"}";
  if (ok(mpp_van_register(van, "dukcapil.ktp-el", form2, "{\"force\": false}", &out, &error),
         &error, "register a second")) {
    CHECK(json_string(out, "receipt", other, sizeof other));
    mpp_string_free(out);
  }
  error = NULL;
  fails_with(mpp_van_cancel(van, other, "", &out, &error), &error, MPP_ERR_INVALID_INPUT, "reason",
             "cancel without a reason");
  error = NULL;
  if (ok(mpp_van_cancel(van, other, "pemohon pindah alamat", &out, &error), &error, "cancel")) {
    CHECK(contains(out, "\"status\":\"cancelled\""));
    mpp_string_free(out);
  }
  error = NULL;

  /* A cancelled sync: nothing is lost, the next one sends it. */
  mpp_cancel* cancel = mpp_cancel_new();
  CHECK(cancel != NULL);
  mpp_cancel_set(cancel);
  CHECK(mpp_cancel_is_set(cancel) == 1);
  fails_with(sync_once(van, NULL, NULL, cancel, &out, &error), &error, MPP_ERR_CANCELLED,
             "changes not yet sent stay saved on this van", "cancelled sync");
  error = NULL;
  if (ok(mpp_van_status(van, &out, &error), &error, "status after a cancel")) {
    CHECK(!contains(out, "\"pending\":0"));
    mpp_string_free(out);
  }
  error = NULL;
  mpp_cancel_reset(cancel);

  /* The host's transport: one that fails is an unavailable server, retried then given up. */
  int failing_calls = 0;
  mpp_transport failing = {failing_send, &failing_calls};
  CHECK(ok(mpp_van_set_transport(van, &failing, &error), &error, "set a failing transport"));
  error = NULL;
  fails_with(sync_once(van, "{\"max_attempts\": 2, \"initial_backoff_ms\": 0}", NULL, cancel, &out,
                       &error),
             &error, MPP_ERR_UNAVAILABLE, "airplane mode is on", "sync over a failing transport");
  error = NULL;
  CHECK(failing_calls == 2);

  /* One that forwards over libcurl carries the sync through. */
  struct forwarder forward = {server_url, 0};
  mpp_transport forwarding = {forwarding_send, &forward};
  CHECK(ok(mpp_van_set_transport(van, &forwarding, &error), &error, "set a forwarding transport"));
  error = NULL;
  if (ok(sync_once(van, NULL, NULL, cancel, &out, &error), &error,
         "sync over the host's transport")) {
    CHECK(contains(out, "\"acknowledged\":"));
    mpp_string_free(out);
  }
  error = NULL;
  CHECK(forward.calls >= 2);
  if (ok(mpp_van_status(van, &out, &error), &error, "status after syncing")) {
    CHECK(contains(out, "\"pending\":0"));
    CHECK(contains(out, "\"enrolled\":true"));
    CHECK(!contains(out, "\"last_sync_ms\":0"));
    mpp_string_free(out);
  }
  error = NULL;
  CHECK(ok(mpp_van_set_transport(van, NULL, &error), &error, "back to libcurl"));
  error = NULL;
  mpp_cancel_free(cancel);

  /* Locked again: personal data needs the passphrase, the status does not. */
  CHECK(ok(mpp_van_lock(van, &error), &error, "lock"));
  error = NULL;
  CHECK(mpp_van_is_unlocked(van) == 0);
  fails_with(mpp_van_show(van, receipt, &out, &error), &error, MPP_ERR_UNAUTHENTICATED, "locked",
             "show while locked");
  error = NULL;
  fails_with(mpp_van_register(van, "dukcapil.ktp-el", kKtpForm, NULL, &out, &error), &error,
             MPP_ERR_UNAUTHENTICATED, "locked", "register while locked");
  error = NULL;
  if (ok(mpp_van_status(van, &out, &error), &error, "status while locked")) {
    CHECK(contains(out, "\"unlocked\":false"));
    mpp_string_free(out);
  }
  error = NULL;

  /* NULL handles are errors, not crashes. */
  fails_with(mpp_van_status(NULL, &out, &error), &error, MPP_ERR_INVALID_INPUT, "van handle",
             "a NULL van");
  error = NULL;
  mpp_van_close(van);
  mpp_van_close(NULL);
  mpp_error_free(NULL);
  mpp_string_free(NULL);
  curl_global_cleanup();

  if (failures == 0) printf("capi_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
