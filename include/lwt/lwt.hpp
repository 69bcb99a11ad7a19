// The umbrella header: every lwt++ module.
#pragma once

#include <lwt/bind.hpp>
#include <lwt/condition.hpp>
#include <lwt/direct.hpp>
#include <lwt/engine.hpp>
#include <lwt/io.hpp>
#include <lwt/list.hpp>
#include <lwt/loops.hpp>
#include <lwt/main.hpp>
#include <lwt/mutex.hpp>
#include <lwt/mvar.hpp>
#include <lwt/pool.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/process.hpp>
#include <lwt/promise.hpp>
#include <lwt/result.hpp>
#include <lwt/semaphore.hpp>
#include <lwt/seq.hpp>
#include <lwt/stream.hpp>
#include <lwt/switch.hpp>
#include <lwt/throttle.hpp>
#include <lwt/timeout.hpp>
#include <lwt/unix.hpp>
