#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% An independent Zn server (3GPP TS 29.109 Section 6.2, the BSF side of Zn) built on
%% Erlang/OTP's diameter application with its own dictionary (zn.dia, compiled at run
%% time with diameter_make:codec/2). OpenGBA's interop test (tests/interop/
%% erlang_zn_test.go) runs its NAF Zn client against it.
%%
%% Usage (every argument is name=value):
%%
%%   escript zn_bsf.escript dict=zn.dia key=<64 hex digits> expires=<unix seconds>
%%       [impi=<IMPI>] [unknown=<B-TID answered 5403>] [denied=<B-TID answered 5402>]
%%       [host=bsf.home1.net] [realm=home1.net] [port=0]
%%
%% It listens on 127.0.0.1 (port 0: the kernel picks one) and prints
%%
%%   LISTENING <port>
%%
%% on stdout once the listener is open, "PEER_UP <Origin-Host>" and "PEER_DOWN
%% <Origin-Host>" when a client connection opens (watchdog OKAY) and closes, and one line
%% per Bootstrapping-Info-Request:
%%
%%   BIR session=<Session-Id> btid=<Transaction-Identifier> nafid=<hex of NAF-Id>
%%       dest_realm=<Destination-Realm> gbau=<GBA_U-Awareness-Indicator or none>
%%       pir=<Private-Identity-Request or none> pxy=<true|false>
%%       errors=<Result-Codes of the codec's findings, comma-separated, or none>
%%
%% Every BIR is answered with a BIA: Experimental-Result 5403 (DIAMETER_ERROR_TRANSACTION_
%% IDENTIFIER_INVALID, TS 29.109 Section 6.3.3.3) for the "unknown" B-TID, 5402
%% (DIAMETER_ERROR_NOT_AUTHORIZED) for the "denied" one, else Result-Code 2001 with
%% ME-Key-Material = key, Key-ExpiryTime = expires, GBA-Type = 3G_GBA and, when the BIR
%% carries Private-Identity-Request = PRIVATE_IDENTITY_REQUESTED, User-Name = impi. It
%% exits when stdin closes.

-module(opengba_zn_bsf).
-mode(compile).

-export([main/1]).
%% diameter_app callbacks
%% with the extra argument Conf ({module, [?MODULE, Conf]}), so each arity is one more.
-export([peer_up/4, peer_down/4, pick_peer/5, prepare_request/4, prepare_retransmit/4,
         handle_answer/5, handle_error/5, handle_request/4]).

%% Records of diameter.hrl (OTP diameter), read by position so that the script needs no
%% headers (erlang-dev): #diameter_packet{header, avps, msg, ...} and
%% #diameter_header{version, length, cmd_code, application_id, hop_by_hop_id,
%% end_to_end_id, is_request, is_proxiable, ...}, #diameter_caps{origin_host, ...}.
-define(PACKET_HEADER, 2).
-define(PACKET_MSG, 4).
-define(PACKET_ERRORS, 6).
-define(HEADER_IS_PROXIABLE, 9).
%% #diameter_caps{origin_host = {Local, Remote}, ...}
-define(CAPS_ORIGIN_HOST, 2).

-define(SVC, opengba_zn_bsf).
-define(VENDOR_3GPP, 10415).
-define(APP_ZN, 16777220).
%% Seconds from 0000-01-01 (calendar's gregorian seconds) to 1970-01-01.
-define(UNIX_EPOCH, 62167219200).

main(Args) ->
    try run(parse(Args))
    catch
        C:E:St ->
            io:format(standard_error, "zn_bsf: ~p:~p~n~p~n", [C, E, St]),
            halt(2)
    end.

parse(Args) ->
    maps:from_list([begin
                        [K, V] = string:split(A, "="),
                        {K, V}
                    end || A <- Args]).

arg(Name, Opts) ->
    case maps:find(Name, Opts) of
        {ok, V} -> V;
        error -> erlang:error({missing_argument, Name})
    end.

run(Opts) ->
    Dict = load_dictionary(arg("dict", Opts)),
    Key = unhex(arg("key", Opts)),
    32 = byte_size(Key),
    Expires = calendar:gregorian_seconds_to_datetime(
                list_to_integer(arg("expires", Opts)) + ?UNIX_EPOCH),
    Host = maps:get("host", Opts, "bsf.home1.net"),
    Realm = maps:get("realm", Opts, "home1.net"),
    Conf = #{key => Key,
             host => Host,
             realm => Realm,
             expires => Expires,
             impi => list_to_binary(maps:get("impi", Opts, "")),
             unknown => list_to_binary(maps:get("unknown", Opts, "")),
             denied => list_to_binary(maps:get("denied", Opts, ""))},
    Port = list_to_integer(maps:get("port", Opts, "0")),
    ok = diameter:start(),
    ok = diameter:start_service(?SVC,
           [{'Origin-Host', Host},
            {'Origin-Realm', Realm},
            {'Vendor-Id', ?VENDOR_3GPP},
            {'Product-Name', "OpenGBA interop BSF (Erlang/OTP diameter)"},
            {'Supported-Vendor-Id', [?VENDOR_3GPP]},
            %% TS 29.109 Section 5.1: Zn is a vendor-specific application of 3GPP.
            {'Vendor-Specific-Application-Id',
             [[{'Vendor-Id', ?VENDOR_3GPP}, {'Auth-Application-Id', [?APP_ZN]}]]},
            {decode_format, map},
            {string_decode, false},
            {application, [{alias, zn},
                           {dictionary, Dict},
                           {module, [?MODULE, Conf]}]}]),
    {ok, Ref} = diameter:add_transport(?SVC,
                  {listen, [{transport_module, diameter_tcp},
                            {transport_config, [{reuseaddr, true},
                                                {ip, {127, 0, 0, 1}},
                                                {port, Port}]}]}),
    io:format("LISTENING ~b~n", [listen_port(Ref, 500)]),
    wait_stdin().

%% load_dictionary compiles the .dia file to a codec module in memory.
load_dictionary(Path) ->
    {ok, [Forms]} = diameter_make:codec(Path, [return, forms]),
    {ok, Mod, Bin} = compile:forms(Forms, [binary, return_errors]),
    {module, Mod} = code:load_binary(Mod, Path, Bin),
    Mod.

%% listen_port waits for diameter_tcp to open the listening socket (add_transport
%% returns before it does).
listen_port(_Ref, 0) ->
    erlang:error(no_listener);
listen_port(Ref, N) ->
    case diameter_tcp:ports(Ref) of
        [{listen, P, _} | _] -> P;
        [] ->
            timer:sleep(10),
            listen_port(Ref, N - 1)
    end.

wait_stdin() ->
    case io:get_line("") of
        eof -> halt(0);
        {error, _} -> halt(0);
        _ -> wait_stdin()
    end.

%% diameter_app callbacks; Conf is the extra argument of {module, [?MODULE, Conf]}.
%% This node never sends requests of its own.

%% peer_up is called once the RFC 3539 watchdog of the connection is OKAY. Before that
%% (state INITIAL) OTP's diameter throws away every message but DWA, so a request sent
%% right after the CEA can be lost: the Go test waits for this line first.
peer_up(_Svc, {_, Caps}, State, _Conf) ->
    io:format("PEER_UP ~s~n", [remote(element(?CAPS_ORIGIN_HOST, Caps))]),
    State.

peer_down(_Svc, {_, Caps}, State, _Conf) ->
    io:format("PEER_DOWN ~s~n", [remote(element(?CAPS_ORIGIN_HOST, Caps))]),
    State.

remote({_Local, Remote}) -> Remote.

pick_peer(_Local, _Remote, _Svc, _State, _Conf) -> false.
prepare_request(_Packet, _Svc, _Peer, _Conf) -> discard.
prepare_retransmit(_Packet, _Svc, _Peer, _Conf) -> discard.
handle_answer(_Packet, _Request, _Svc, _Peer, _Conf) -> ok.
handle_error(_Reason, _Request, _Svc, _Peer, _Conf) -> ok.

handle_request(Pkt, _Svc, _Peer, Conf) when element(1, Pkt) =:= diameter_packet ->
    case element(?PACKET_MSG, Pkt) of
        ['BIR' | Bir] ->
            bir(element(?PACKET_HEADER, Pkt), Bir, errors(element(?PACKET_ERRORS, Pkt)), Conf);
        _ -> {answer_message, 3001} % DIAMETER_COMMAND_UNSUPPORTED
    end.

bir(Hdr, Bir, Errors, Conf) ->
    diameter_header = element(1, Hdr),
    Sid = maps:get('Session-Id', Bir),
    BTID = maps:get('Transaction-Identifier', Bir),
    NAFId = maps:get('NAF-Id', Bir),
    GBAU = maps:get('GBA_U-Awareness-Indicator', Bir, none),
    PIR = maps:get('Private-Identity-Request', Bir, none),
    io:format("BIR session=~s btid=~s nafid=~s dest_realm=~s gbau=~p pir=~p pxy=~p errors=~s~n",
              [Sid, BTID, hex(NAFId),
               maps:get('Destination-Realm', Bir), one(GBAU), one(PIR),
               element(?HEADER_IS_PROXIABLE, Hdr), Errors]),
    Common = [{'Session-Id', Sid},
              {'Vendor-Specific-Application-Id',
               [{'Vendor-Id', ?VENDOR_3GPP}, {'Auth-Application-Id', [?APP_ZN]}]},
              {'Origin-Host', maps:get(host, Conf)},
              {'Origin-Realm', maps:get(realm, Conf)}],
    Unknown = maps:get(unknown, Conf),
    Denied = maps:get(denied, Conf),
    Ans = case BTID of
              Unknown when Unknown /= <<>> ->
                  ['BIA', {'Experimental-Result', [experimental(5403)]} | Common];
              Denied when Denied /= <<>> ->
                  ['BIA', {'Experimental-Result', [experimental(5402)]} | Common];
              _ ->
                  ['BIA', {'Result-Code', 2001},
                   {'ME-Key-Material', maps:get(key, Conf)},
                   {'Key-ExpiryTime', maps:get(expires, Conf)},
                   {'GBA-Type', 0}
                   | Common ++ user_name(one(PIR), maps:get(impi, Conf))]
          end,
    {reply, Ans}.

%% errors lists the Result-Codes of what the codec found wrong in a request (RFC 6733
%% Section 7.1: unknown M-bit AVPs, missing or repeated AVPs, bad lengths), "none" if
%% nothing.
errors([]) -> "none";
errors(Es) ->
    lists:join(",", [integer_to_list(case E of {RC, _} -> RC; RC -> RC end) || E <- Es]).

%% An optional AVP ([ Experimental-Result ]) is given as a list of its values.
experimental(Code) ->
    [{'Vendor-Id', ?VENDOR_3GPP}, {'Experimental-Result-Code', Code}].

%% TS 29.109 Section 6.3.1.17: PRIVATE_IDENTITY_REQUESTED (0) asks for User-Name.
user_name(0, IMPI) when IMPI /= <<>> -> [{'User-Name', IMPI}];
user_name(_, _) -> [].

unhex(S) -> << <<(list_to_integer([H, L], 16))>> || <<H, L>> <= list_to_binary(S) >>.

hex(B) -> [io_lib:format("~2.16.0b", [X]) || <<X>> <= B].

%% An optional AVP of arity 1 decodes to a one-element list in some codec versions.
one([V]) -> V;
one(V) -> V.
