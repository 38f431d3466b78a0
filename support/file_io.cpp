#include "support/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace cnnc {
namespace {

Error ioError(const std::string& path, std::string_view what) {
  return Error{fmt::format("{}: {}: {}", path, what, std::strerror(errno))};
}

// Closes a POSIX file descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting failure (a late write error shows up here).
  bool close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

bool writeAll(int fd, std::string_view contents) {
  while (!contents.empty()) {
    ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

Status writeFileAtomically(const std::string& path, std::string_view contents) {
  // Same directory as the destination, so the rename cannot cross devices.
  std::string temporary = fmt::format("{}.tmp-{}", path, ::getpid());
  FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (file.get() < 0) return ioError(path, "cannot create file");
  bool written = writeAll(file.get(), contents) && ::fsync(file.get()) == 0;
  written = file.close() && written;
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    Error error = ioError(path, "cannot write file");
    std::remove(temporary.c_str());
    return error;
  }
  return Status::ok();
}

Expected<std::string> readFile(const std::string& path, size_t maxBytes) {
  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return ioError(path, "cannot read file");
  std::string contents;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ioError(path, "cannot read file");
    if (n == 0) return contents;
    if (contents.size() + static_cast<size_t>(n) > maxBytes)
      return Error{fmt::format("{}: cannot read file: larger than {} MiB", path, maxBytes >> 20)};
    contents.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace cnnc
