#include "lib/io/model_files.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tflayout/status.h"
#include "lib/io/streamed_writer.h"
#include "lib/io/weights_on_disk.h"

namespace tflayout {

absl::StatusOr<LoadedModel> LoadModelFile(const std::string& path, const ModelFileOptions& options,
                                          std::unique_ptr<ExternalDataStore>& store) {
  store.reset();
  if (!options.stream && !options.in_place) return LoadModel(path);
  absl::StatusOr<LoadedModel> loaded =
      options.embedded_in_memory ? LoadModel(path, LoadOptions{/*load_external_data=*/false})
                                 : LoadModelWeightsOnDisk(path);
  if (!loaded.ok()) return loaded;
  auto created = ExternalDataStore::Create(loaded->model, loaded->base_dir);
  if (!created.ok()) return WithContext(created.status(), path);
  (*created)->set_embedded_file(loaded->weights_file);
  if (options.in_place && !loaded->weights_file.empty() && !EmbeddedOnly(*loaded, created->get())) {
    // Embedded and external weights: --in-place rewrites the external ones region by region and
    // the model file from memory, embedded weights included.
    ModelFileOptions in_memory = options;
    in_memory.embedded_in_memory = true;
    return LoadModelFile(path, in_memory, store);
  }
  if ((*created)->has_overlaps()) {
    if (!options.in_place) return LoadModel(path);
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": ", (*created)->overlap_message(),
        "; --in-place cannot rewrite one without the other"));
  }
  store = *std::move(created);
  return loaded;
}

absl::Status SaveModelFile(LoadedModel& loaded, const ExternalDataStore* store,
                           const std::string& output, const ModelFileOptions& options) {
  SaveOptions save;
  save.protected_paths = loaded.external_files;
  if (!loaded.path.empty() && !options.replace_input) save.protected_paths.push_back(loaded.path);
  // "auto": external when the input had external data, or when the model would pass 2 GiB.
  save.external_data_over_limit = options.external_data == "auto";
  save.sync = options.sync;
  if (store == nullptr || store->empty()) {
    save.use_external_data = options.external_data == "always" ||
                             (save.external_data_over_limit && !loaded.external_files.empty());
    return SaveModel(loaded.model, output, save);
  }
  // Embedded weights left in the input file do not count as external input.
  const std::vector<std::string> files = store->files();
  const bool external_input = std::any_of(files.begin(), files.end(), [&](const std::string& f) {
    return f != loaded.weights_file;
  });
  for (const std::string& f : files) {
    if (f != loaded.weights_file || !options.replace_input) save.protected_paths.push_back(f);
  }
  save.use_external_data = options.external_data == "always" ||
                           (save.external_data_over_limit && external_input);
  return WriteStreamed(loaded.model, *store, output, save);
}

bool EmbeddedOnly(const LoadedModel& loaded, const ExternalDataStore* store) {
  if (store == nullptr || store->empty() || loaded.weights_file.empty()) return false;
  const std::vector<std::string> files = store->files();
  return std::all_of(files.begin(), files.end(),
                     [&](const std::string& f) { return f == loaded.weights_file; });
}

}  // namespace tflayout
