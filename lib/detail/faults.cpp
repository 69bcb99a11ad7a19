// Fault injection (include/lwt/detail/faults.hpp): which operation gets which fault.
#include <lwt/detail/engine.hpp>
#include <lwt/detail/faults.hpp>

#include <fmt/core.h>

#include <sys/uio.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace lwt::detail {

namespace {

// A spurious EINTR or EAGAIN hits one eligible attempt in `spurious_rate`: often enough that
// every path meets it many times per test, rarely enough that operations make progress.
constexpr unsigned spurious_rate = 8;

unsigned number(std::string_view v) { return static_cast<unsigned>(std::strtoul(std::string(v).c_str(), nullptr, 10)); }

}  // namespace

fault_config fault_config::from_env() {
    fault_config c;
    const char* env = std::getenv("LWT_FAULTS");
    if (env == nullptr) return c;
    std::string_view s(env);
    while (!s.empty()) {
        std::size_t comma = s.find(',');
        std::string_view w = s.substr(0, comma);
        s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
        std::size_t eq = w.find('=');
        std::string_view key = w.substr(0, eq), val = eq == std::string_view::npos ? "" : w.substr(eq + 1);
        if (key == "short") c.short_io = true;
        else if (key == "eintr") c.eintr = true;
        else if (key == "eagain") c.eagain = true;
        else if (key == "report") c.report = true;
        else if (key == "sq") c.sq = number(val);
        else if (key == "cq") c.cq = number(val);
        else if (key == "seed") c.seed = std::strtoull(std::string(val).c_str(), nullptr, 10) | 1;
        else if (!key.empty()) fmt::print(stderr, "lwt: LWT_FAULTS: unknown fault '{}' ignored\n", w);
    }
    return c;
}

fault_injector::fault_injector(const fault_config& c) noexcept : cfg_(c), rng_(c.seed) {}

bool fault_injector::roll(unsigned one_in) noexcept {
    rng_ ^= rng_ << 13;  // xorshift64
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_ % one_in == 0;
}

std::int32_t fault_injector::instead_of(const io_op& op, bool may_eagain) noexcept {
    target& t = armed_[static_cast<std::size_t>(op.kind)];
    if (t.count != 0) {
        --t.count;
        ++targeted_;
        return -t.err;
    }
    if (cfg_.eintr && restartable(op.kind) && roll(spurious_rate)) {
        ++eintrs_;
        return -EINTR;
    }
    if (cfg_.eagain && may_eagain && op.traits().retry_when_ready && roll(spurious_rate)) {
        ++eagains_;
        return -EAGAIN;
    }
    return 0;
}

std::uint32_t fault_injector::short_len(const io_op& op) noexcept {
    if (!cfg_.short_io || !op.traits().counts_len_bytes || op.len <= 1) return op.len;
    ++shortened_;
    return 1;
}

iovec* fault_injector::short_iovec(const io_op& op, std::uint32_t key) {
    if (!cfg_.short_io || (op.kind != io_kind::readv && op.kind != io_kind::writev)) return nullptr;
    const auto* v = static_cast<const iovec*>(op.addr);
    std::uint32_t i = 0;
    while (i < op.len && v[i].iov_len == 0) ++i;
    if (i == op.len || (v[i].iov_len == 1 && op.len == i + 1)) return nullptr;  // (one byte already)
    while (shadows_.size() <= key) shadows_.push_back({});
    shadows_[key] = {v[i].iov_base, 1};
    ++shortened_;
    return &shadows_[key];
}

void fault_injector::settling(const io_op& op) noexcept {
    if (!op.in_flight()) {
        fmt::print(stderr, "lwt: LWT_FAULTS: a {} settled twice (fd {})\n", op.traits().name, op.fd);
        std::abort();
    }
    ++settled_;
}

void fault_injector::at_teardown(const char* engine, std::size_t live_ops) noexcept {
    if (live_ops != 0) {
        fmt::print(stderr, "lwt: LWT_FAULTS: the {} engine ends with {} operations unsettled\n", engine, live_ops);
        std::abort();
    }
    if (cfg_.report)
        fmt::print(stderr, "lwt: LWT_FAULTS report ({}): {} operations settled; {} shortened, {} EINTR, {} EAGAIN, "
                   "{} targeted\n", engine, settled_, shortened_, eintrs_, eagains_, targeted_);
}

void fault_injector::fail_next(io_kind k, int err, unsigned count) noexcept {
    armed_[static_cast<std::size_t>(k)] = {err, count};
}

void faults::fail_next(io_kind k, int err, unsigned count) { io_engine::current().faults().fail_next(k, err, count); }

}  // namespace lwt::detail
