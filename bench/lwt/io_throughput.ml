(* io_throughput on OCaml's Lwt 5.6: the program of bench/io_throughput.cpp -- lines through
   Lwt_io.read_line/write_line over a pipe, bytes through Lwt_io.read_into/write_from over a
   pipe and a file -- with the same data, the same checks and the same output line.

     lwt_io_throughput lines N | pipe BYTES | file BYTES PATH *)

open Lwt.Syntax

let lines =
  Array.init 16 (fun i ->
      Printf.sprintf "line %02d %s" i (String.make (2 * i) (Char.chr (Char.code 'x' + (i mod 3)))))

let line_bytes n =
  let b = ref 0 in
  for i = 0 to n - 1 do
    b := !b + String.length lines.(i mod 16) + 1
  done;
  !b

let period = 4093
let chunk = 64 * 1024
let pattern = Bytes.init (chunk + period) (fun i -> Char.chr ((i mod period) * 131 mod 251))

(* buf[0, n) = pattern[from, from + n), 8 bytes at a time, without allocating. *)
let same buf from n =
  let rec words i = i + 8 > n || (Bytes.get_int64_ne buf i = Bytes.get_int64_ne pattern (from + i) && words (i + 8)) in
  let rec tail i = i >= n || (Bytes.get buf i = Bytes.get pattern (from + i) && tail (i + 1)) in
  words 0 && tail (n - (n mod 8))

let corrupt what =
  Printf.eprintf "io_throughput: data corrupted: %s\n%!" what;
  exit 1

let report test n bytes s =
  Printf.printf "impl=lwt test=%s n=%d seconds=%.3f per_s=%.0f mb_per_s=%.1f\n%!" test n s
    (float n /. s) (float bytes /. s /. 1e6)

let now () = Unix.gettimeofday ()

let lwt_lines n =
  let ic, oc = Lwt_io.pipe () in
  let writer =
    let rec go i = if i = n then Lwt_io.close oc else let* () = Lwt_io.write_line oc lines.(i mod 16) in go (i + 1) in
    go 0
  in
  let reader =
    let rec go i =
      let* l = Lwt_io.read_line_opt ic in
      match l with
      | Some l -> if l <> lines.(i mod 16) then corrupt (Printf.sprintf "line %d" i); go (i + 1)
      | None -> if i <> n then corrupt (Printf.sprintf "%d lines received, %d sent" i n); Lwt.return_unit
    in
    go 0
  in
  let t = now () in
  let* () = Lwt.join [ writer; reader ] in
  report "lines" n (line_bytes n) (now () -. t);
  Lwt.return_unit

let send oc total =
  let rec go off =
    if off >= total then Lwt_io.close oc
    else
      let n = min chunk (total - off) in
      let* () = Lwt_io.write_from_exactly oc pattern (off mod period) n in
      go (off + n)
  in
  go 0

let receive ic total =
  let buf = Bytes.create chunk in
  let rec go off =
    let* n = Lwt_io.read_into ic buf 0 chunk in
    if n = 0 then (
      if off <> total then corrupt (Printf.sprintf "%d bytes received, %d sent" off total);
      Lwt_io.close ic)
    else (
      if not (same buf (off mod period) n) then corrupt (Printf.sprintf "at byte %d" off);
      go (off + n))
  in
  go 0

let lwt_pipe total =
  let ic, oc = Lwt_io.pipe () in
  let t = now () in
  let* () = Lwt.join [ send oc total; receive ic total ] in
  report "pipe" (total / chunk) total (now () -. t);
  Lwt.return_unit

let lwt_file total path =
  let t = now () in
  let* oc = Lwt_io.open_file ~mode:Lwt_io.Output path in
  let* () = send oc total in
  report "file_write" (total / chunk) total (now () -. t);
  let t = now () in
  let* ic = Lwt_io.open_file ~mode:Lwt_io.Input path in
  let* () = receive ic total in
  report "file_read" (total / chunk) total (now () -. t);
  Lwt_unix.unlink path

let count s =
  let n = String.length s in
  let mult = match s.[n - 1] with 'k' | 'K' -> 1 lsl 10 | 'm' | 'M' -> 1 lsl 20 | 'g' | 'G' -> 1 lsl 30 | _ -> 1 in
  let digits = if mult = 1 then s else String.sub s 0 (n - 1) in
  int_of_string digits * mult

let () =
  match Array.to_list Sys.argv |> List.tl with
  | [ "lines"; n ] -> Lwt_main.run (lwt_lines (count n))
  | [ "pipe"; n ] -> Lwt_main.run (lwt_pipe (count n))
  | [ "file"; n; path ] -> Lwt_main.run (lwt_file (count n) path)
  | _ ->
      prerr_endline "usage: lwt_io_throughput lines N | pipe BYTES | file BYTES PATH";
      exit 2
