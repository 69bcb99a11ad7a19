// The umbrella header: every lwt++ module.
#pragma once

#include <lwt/bind.hpp>
#include <lwt/direct.hpp>
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix.hpp>
