// Lwt_io: buffered channels over file descriptors, pipes or user functions; clients and
// servers; files. The umbrella of <lwt/io/...>, one header per concept:
//   channel.hpp     end_of_file, channel_closed, input/output, input_channel, output_channel;
//                   of_fd, of_socket, pipe, make, stdin_/stdout_/stderr_, null, zero; buffer
//                   sizes; close, abort, is_closed; atomic
//   read.hpp        read_char, read_line, read, read_into, read_lines, read_chars (and _opt)
//   write.hpp       write_char, write, write_line, write_lines, write_from; printf and kin;
//                   flush, flush_all
//   number.hpp      LE, BE: binary numbers
//   file.hpp        open_file, with_file, file_length, lines_of_file, lines_to_file,
//                   with_temp_file, with_temp_dir
//   connection.hpp  open_connection, with_connection
//   server.hpp      server, establish_server_with_client_address/_socket, shutdown_server
//
// A channel is a cheap, copyable handle. Operations on one channel are atomic with respect to
// each other: each waits for the ones before it (a per-channel FIFO lock, as in Lwt), and
// atomic(ch, f) holds the channel for a whole group. Output channels flush themselves when
// idle: data written in one loop iteration is flushed at the next (Lwt's auto-flush), or when
// the buffer fills, or by flush(). Using a closed channel rejects with io::channel_closed.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/io/connection.hpp>
#include <lwt/io/file.hpp>
#include <lwt/io/number.hpp>
#include <lwt/io/read.hpp>
#include <lwt/io/server.hpp>
#include <lwt/io/write.hpp>

// What <lwt/io.hpp> always brought along, kept for the code that relies on it.
#include <lwt/mutex.hpp>
#include <lwt/unix.hpp>
