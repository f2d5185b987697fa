// Schema of the van store and its migrations. Private to local_store.
#pragma once

#include "mpp/sqlite/sqlite.h"
#include "mpp/sync/result.h"

namespace mpp::store {

// 'MPPF' in PRAGMA application_id marks a file as a van store.
inline constexpr int kApplicationId = 0x4D505046;

// Brings a store to kSchemaVersion, one migration per transaction. A fresh file (user_version 0,
// no tables) gets the whole schema. Refuses a newer schema or a database of another application.
Result<int> MigrateToCurrent(sqlite::Database& db, bool fresh);

}  // namespace mpp::store
