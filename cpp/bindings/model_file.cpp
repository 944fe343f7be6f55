// Bindings of the model file container: the parse and checks run in C++ (the
// fuzzed code), Python builds the object from the checked manifest.
#include <string>

#include "registry.h"
#include "twinscore/model_file.h"

namespace twinscore::bindings {

TWINSCORE_BINDINGS(model_file) {
  m.attr("MODEL_FORMAT_VERSION") = kModelFormatVersion;
  m.def(
      "read_model_file",
      [](const py::buffer& data, bool verify_arrays) {
        const py::buffer_info info = data.request();
        if (info.ndim != 1 || info.itemsize != 1) throw py::type_error("a model file is read from bytes");
        const absl::string_view bytes(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size));
        absl::StatusOr<ModelFile> f;
        {
          py::gil_scoped_release release;
          f = ParseModelFile(bytes, verify_arrays);
        }
        Raise(f.status());
        py::list arrays;
        for (const auto& a : f->arrays) {
          py::tuple shape(a.shape.size());
          for (size_t i = 0; i < a.shape.size(); ++i) shape[i] = a.shape[i];
          arrays.append(py::make_tuple(a.name, a.dtype, shape, a.offset, a.length));
        }
        return py::make_tuple(f->version, py::bytes(f->manifest_text), f->class_name, arrays);
      },
      py::arg("data"), py::arg("verify_arrays") = true,
      "Checks a model file held in memory: (version, manifest bytes, class, [(name, dtype, shape, offset, "
      "length)]); ValueError naming what is wrong.");
  m.def(
      "model_file_header",
      [](const py::bytes& manifest) {
        return py::bytes(ModelFileHeader(std::string(manifest)));
      },
      py::arg("manifest"));
  m.def(
      "model_file_crc32",
      [](const py::buffer& data) {
        const py::buffer_info info = data.request();
        const absl::string_view bytes(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize));
        py::gil_scoped_release release;
        return Crc32(bytes);
      },
      py::arg("data"));
}

}  // namespace twinscore::bindings
