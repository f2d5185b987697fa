// Column-wise wire form of the two large bodies: a push batch of mutations and the requests of a
// pull answer. Values of one kind sit together (every request id, then every receipt, then every
// value of "name", then every value of "nik", ...), strings that repeat across a batch (device
// ids, officers, service ids, field names) are sent once and referred to by index, and
// timestamps are sent as differences from a close neighbour. zstd then finds far more to
// share: on tools/workload batches the compressed push body is about a fifth smaller than the
// row-wise cereal encoding of the same mutations, at the same level.
//
// Decoding checks every count and index against the columns before using it, and accepts only
// the canonical form (the one the encoder writes), so each batch has exactly one encoding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mpp/sync/model.h"
#include "mpp/sync/result.h"

namespace mpp::sync {

struct MutationColumns {
  std::vector<std::string> strings;  // origins, actors, service ids, field names, base origins
  std::vector<uint32_t> origin;      // per mutation, an index into strings
  std::vector<uint64_t> seq;         // difference from the previous mutation's (wrapping)
  std::vector<uint64_t> hlc_wall;    // difference from the previous mutation's (wrapping)
  std::vector<uint32_t> hlc_logical;
  std::vector<uint32_t> actor;
  std::vector<uint8_t> kind;
  std::vector<std::string> request_id;
  std::vector<uint32_t> service_id;
  std::vector<std::string> receipt;
  std::vector<uint32_t> write_count;
  std::vector<uint32_t> write_name;       // every write, in mutation order
  std::vector<std::string> write_value;   // every write, grouped by name (GroupedByName)
  std::vector<uint64_t> write_base_wall;  // grouped like write_value
  std::vector<uint32_t> write_base_logical;
  std::vector<uint32_t> write_base_origin;
  std::vector<uint8_t> status_to;
  std::vector<uint64_t> status_base_wall;
  std::vector<uint32_t> status_base_logical;
  std::vector<uint32_t> status_base_origin;
  std::vector<std::string> note;

  bool operator==(const MutationColumns&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(strings, origin, seq, hlc_wall, hlc_logical, actor, kind, request_id, service_id, receipt,
       write_count, write_name, write_value, write_base_wall, write_base_logical, write_base_origin,
       status_to, status_base_wall, status_base_logical, status_base_origin, note);
  }
};

struct RequestColumns {
  std::vector<std::string> strings;  // service ids, devices, officers, field names, origins, ...
  std::vector<std::string> id;
  std::vector<std::string> receipt;
  std::vector<uint32_t> service_id;
  std::vector<uint32_t> device_id;
  std::vector<uint32_t> officer;
  std::vector<uint8_t> status;
  std::vector<uint64_t> created_wall;  // difference from the previous request's (wrapping)
  std::vector<uint32_t> created_logical;
  // Every other timestamp of a request is a difference from its own `created`: a request that
  // was never edited has all of them zero.
  std::vector<uint64_t> status_wall;
  std::vector<uint32_t> status_logical;
  std::vector<uint32_t> status_origin;
  std::vector<uint32_t> status_note;
  std::vector<uint32_t> field_count;
  std::vector<uint32_t> field_name;      // every field, in request order (by name)
  std::vector<std::string> field_value;  // every field, grouped by name
  std::vector<uint64_t> field_wall;      // grouped like field_value
  std::vector<uint32_t> field_logical;
  std::vector<uint32_t> field_origin;
  std::vector<uint32_t> history_count;
  std::vector<uint64_t> history_wall;
  std::vector<uint32_t> history_logical;
  std::vector<uint32_t> history_actor;
  std::vector<uint32_t> history_text;

  bool operator==(const RequestColumns&) const = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(strings, id, receipt, service_id, device_id, officer, status, created_wall, created_logical,
       status_wall, status_logical, status_origin, status_note, field_count, field_name,
       field_value, field_wall, field_logical, field_origin, history_count, history_wall,
       history_logical, history_actor, history_text);
  }
};

MutationColumns ToColumns(const std::vector<Mutation>& mutations);
// kCorrupt when the columns disagree with each other or are not in canonical form; the message
// says which.
Result<std::vector<Mutation>> FromColumns(const MutationColumns& columns);

RequestColumns ToColumns(const std::vector<Request>& requests);
Result<std::vector<Request>> FromColumns(const RequestColumns& columns);

}  // namespace mpp::sync
