/*
 * relay.hpp: a thin C++11 layer over relay.h, header only.
 *
 * - Errors are exceptions: every call that fails throws relay::error,
 *   carrying the status (RELAY_ERR_*) and relay_last_error()'s detail.
 *   Exceptions must not leave a task function (it is called from C):
 *   wrap its body in relay::task(ctx, [&] { ... }), which turns an
 *   exception into relay_ctx_fail.
 * - relay::ref owns one hold on a relay_ref_t: released on destruction,
 *   move-only; .get() is the plain ref, .release() gives the hold up.
 * - relay::object owns a view from relay_get: freed on destruction.
 * - Typed helpers copy trivially copyable values: relay::arg(value),
 *   relay::put(value), relay::get<T>(ref), relay::ctx_arg<T>(ctx, i),
 *   relay::ctx_return(ctx, i, value). relay::arg(value) points at value:
 *   it must live until the submit that uses it returns.
 * - relay::cluster_resources(rank) and relay::available_resources(rank)
 *   return a relay::resources with the custom resources in a std::map
 *   (names copied).
 * Everything relay.h declares stays usable beside it.
 */
#ifndef RELAY_HPP
#define RELAY_HPP

#include "relay.h"

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace relay
{

class error : public std::runtime_error
{
  public:
    error(int status, const std::string &what) : std::runtime_error(what), status_(status) {}
    int status() const noexcept { return status_; }

  private:
    int status_;
};

/* Throws relay::error for any status but RELAY_OK. */
inline void check(int status)
{
    if (status != RELAY_OK) {
        std::string what = relay_status_name(status);
        const char *detail = relay_last_error();
        if (detail && *detail) what += std::string(": ") + detail;
        throw error(status, what);
    }
}

class ref
{
  public:
    ref() noexcept : ref_(RELAY_REF_NULL) {}
    /* Takes over one hold the caller has on r (from submit, put, retain). */
    explicit ref(relay_ref_t r) noexcept : ref_(r) {}
    ref(const ref &) = delete;
    ref &operator=(const ref &) = delete;
    ref(ref &&other) noexcept : ref_(other.release()) {}
    ref &operator=(ref &&other) noexcept
    {
        if (this != &other) reset(other.release());
        return *this;
    }
    ~ref() { reset(); }

    relay_ref_t get() const noexcept { return ref_; }
    explicit operator bool() const noexcept { return ref_.id != 0; }
    /* Gives the hold up without releasing it: the caller owns it now. */
    relay_ref_t release() noexcept
    {
        relay_ref_t r = ref_;
        ref_ = RELAY_REF_NULL;
        return r;
    }
    /* Releases the hold (errors are ignored: destructors do not throw). */
    void reset(relay_ref_t r = RELAY_REF_NULL) noexcept
    {
        if (ref_.id != 0) (void)relay_release(ref_);
        ref_ = r;
    }
    /* A second owner of the same object (relay_retain). */
    ref share() const
    {
        check(relay_retain(ref_));
        return ref(ref_);
    }

  private:
    relay_ref_t ref_;
};

class object
{
  public:
    object() noexcept : obj_(nullptr) {}
    explicit object(relay_object_t o) noexcept : obj_(o) {}
    object(const object &) = delete;
    object &operator=(const object &) = delete;
    object(object &&other) noexcept : obj_(other.obj_) { other.obj_ = nullptr; }
    object &operator=(object &&other) noexcept
    {
        std::swap(obj_, other.obj_);
        return *this;
    }
    ~object()
    {
        if (obj_) (void)relay_object_free(obj_);
    }

    relay_object_t get() const noexcept { return obj_; }
    const void *data() const noexcept { return relay_object_data(obj_); }
    std::size_t size() const noexcept { return relay_object_size(obj_); }
    /* The bytes as n elements of T (throws if the size is no multiple). */
    template <typename T> const T *as(std::size_t *n) const
    {
        static_assert(std::is_trivially_copyable<T>::value, "T must be trivially copyable");
        if (size() % sizeof(T) != 0)
            throw error(RELAY_ERR_SIZE_MISMATCH, "object size is no multiple of sizeof(T)");
        *n = size() / sizeof(T);
        return static_cast<const T *>(data());
    }

  private:
    relay_object_t obj_;
};

template <typename T> relay_arg_t arg(const T &value)
{
    static_assert(std::is_trivially_copyable<T>::value, "T must be trivially copyable");
    return relay_arg_value(&value, sizeof value);
}
inline relay_arg_t arg(const ref &r)
{
    return relay_arg_ref(r.get());
}

/* The returns opts asks for: 1 unless it sets num_returns. */
inline int num_returns(const relay_task_opts_t *opts)
{
    return opts && (opts->field_mask & RELAY_TASK_OPT_NUM_RETURNS) ? opts->num_returns : 1;
}

/* Submits fn with args; returns its single result (opts asking for another
 * number of returns is an error: use submit_n). */
inline ref submit(const char *fn, std::initializer_list<relay_arg_t> args,
                  const relay_task_opts_t *opts = nullptr)
{
    if (num_returns(opts) != 1)
        throw error(RELAY_ERR_INVALID_ARG,
                    "relay::submit returns one ref: use relay::submit_n for num_returns != 1");
    relay_ref_t r;
    check(relay_submit(fn, args.begin(), args.size(), opts, &r));
    return ref(r);
}

/* Submits fn with args; returns its opts->num_returns results (none for 0). */
inline std::vector<ref> submit_n(const char *fn, std::initializer_list<relay_arg_t> args,
                                 const relay_task_opts_t *opts)
{
    int n = num_returns(opts);
    std::vector<relay_ref_t> raw(n > 0 ? static_cast<std::size_t>(n) : 0);
    check(relay_submit(fn, args.begin(), args.size(), opts, raw.empty() ? nullptr : raw.data()));
    std::vector<ref> refs;
    refs.reserve(raw.size());
    for (relay_ref_t r : raw)
        refs.emplace_back(r);
    return refs;
}

template <typename T> ref put(const T &value)
{
    static_assert(std::is_trivially_copyable<T>::value, "T must be trivially copyable");
    relay_ref_t r;
    check(relay_put(&value, sizeof value, &r));
    return ref(r);
}

inline object get_object(const ref &r, double timeout_s = RELAY_FOREVER)
{
    relay_object_t o = nullptr;
    int rc = relay_get(r.get(), timeout_s, &o);
    object owned(o); /* a failed task's error view too: freed when check throws */
    check(rc);
    return owned;
}

template <typename T> T get(const ref &r, double timeout_s = RELAY_FOREVER)
{
    static_assert(std::is_trivially_copyable<T>::value, "T must be trivially copyable");
    T value;
    check(relay_get_value(r.get(), &value, sizeof value, timeout_s));
    return value;
}

/* Inside a task: argument i as a T (its size must be sizeof(T)). */
template <typename T> T ctx_arg(relay_ctx_t *ctx, std::size_t i)
{
    static_assert(std::is_trivially_copyable<T>::value, "T must be trivially copyable");
    const void *data;
    std::size_t size;
    check(relay_ctx_arg(ctx, i, &data, &size));
    if (size != sizeof(T))
        throw error(RELAY_ERR_SIZE_MISMATCH, "task argument size differs from sizeof(T)");
    T value;
    std::memcpy(&value, data, sizeof value);
    return value;
}

template <typename T> void ctx_return(relay_ctx_t *ctx, std::size_t i, const T &value)
{
    static_assert(std::is_trivially_copyable<T>::value, "T must be trivially copyable");
    check(relay_ctx_return(ctx, i, &value, sizeof value));
}

/* A rank's or the job's resources (relay_cluster_resources). */
struct resources {
    double cpus = 0, gpus = 0;
    std::map<std::string, double> custom;
};

namespace detail
{
inline resources resource_set(int (*call)(int, relay_resource_set_t *), int rank)
{
    /* The list of custom resources is fixed at relay_init: a second call
     * with the count the first gave is enough. */
    std::vector<relay_resource_t> buf(RELAY_MAX_RESOURCES);
    relay_resource_set_t set{};
    set.custom = buf.data();
    set.custom_cap = buf.size();
    int rc = call(rank, &set);
    if (rc == RELAY_ERR_TRUNCATED) {
        buf.resize(set.num_custom);
        set.custom = buf.data();
        set.custom_cap = buf.size();
        rc = call(rank, &set);
    }
    check(rc);
    resources res;
    res.cpus = set.cpus;
    res.gpus = set.gpus;
    for (std::size_t i = 0; i < set.num_custom; i++)
        res.custom[buf[i].name] = buf[i].quantity;
    return res;
}
} // namespace detail

/* rank -1: the whole job. */
inline resources cluster_resources(int rank = -1)
{
    return detail::resource_set(relay_cluster_resources, rank);
}

inline resources available_resources(int rank = -1)
{
    return detail::resource_set(relay_available_resources, rank);
}

/* Runs body() as a task's body: an exception fails the task with its
 * message instead of unwinding through relay's C frames. */
template <typename F> int task(relay_ctx_t *ctx, F &&body) noexcept
{
    try {
        body();
        return 0;
    } catch (const std::exception &e) {
        relay_ctx_fail(ctx, "%s", e.what());
    } catch (...) {
        relay_ctx_fail(ctx, "unknown C++ exception");
    }
    return -1;
}

} // namespace relay

#endif /* RELAY_HPP */
