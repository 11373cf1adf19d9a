#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% An independent Zh peer (3GPP TS 29.109) built on OTP's diameter application, used by
%% tests/interop/erlang_zh_test.go against hss-sim. It compiles its own dictionary
%% (opengba_zh.dia) with diameter_make at run time, connects over TCP, does the
%% capabilities exchange (RFC 6733 Section 5.3) and sends one Multimedia-Auth-Request per
%% query argument, printing one line per answer:
%%
%%   CEA peer=<Origin-Host of the server>
%%   MAA query=<query> result=<Result-Code or 0> exp=<Experimental-Result-Code or 0>
%%       vendor=<Vendor-Id of Experimental-Result or 0> user=<User-Name or ->
%%       scheme=<SIP-Authentication-Scheme or -> rand=<hex> autn=<hex> xres=<hex>
%%       ck=<hex> ik=<hex>
%%   DONE
%%
%% (one line per MAA). Usage:
%%
%%   zh_client.escript DIA HOST PORT QUERY...
%%
%% where QUERY is impi:<IMPI> or impu:<IMPU>. Exit status 0 on success, 2 on any failure
%% (with a line "ERROR ..." on standard output).
%%
%% The keys in the answers are those of public test vectors (TS 35.208); real key
%% material must never be printed like this.

-module(zh_client).
-mode(compile).
-export([main/1]).

-define(SVC, opengba_zh_client).
-define(APP, zh).
-define(ZH, 16777221).
-define(VENDOR_3GPP, 10415).
-define(HOST, "bsf.erlang.opengba.test").
-define(REALM, "erlang.opengba.test").

main([Dia, Host, Port | Queries]) ->
    try
        run(Dia, Host, list_to_integer(Port), Queries),
        io:format("DONE~n"),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format("ERROR ~p:~p ~p~n", [Class, Reason, Stack]),
            halt(2)
    end;
main(_) ->
    io:format("ERROR usage: zh_client.escript DIA HOST PORT QUERY...~n"),
    halt(2).

run(Dia, Host, Port, Queries) ->
    Dict = load_dictionary(Dia),
    ok = diameter:start(),
    ok = diameter:start_service(?SVC, service(Dict)),
    true = diameter:subscribe(?SVC),
    {ok, IP} = inet:parse_address(Host),
    {ok, _Ref} = diameter:add_transport(?SVC,
        {connect, [{transport_module, diameter_tcp},
                   {transport_config, [{raddr, IP}, {rport, Port}]},
                   {connect_timer, 30000}]}),
    Peer = wait_up(10000),
    io:format("CEA peer=~s~n", [Peer]),
    lists:foreach(fun(Q) -> query(Q) end, Queries),
    ok = diameter:stop_service(?SVC).

%% The dictionary is compiled from the .dia file for every run, so the test exercises
%% exactly the text in this directory. diameter_make returns abstract forms, which need
%% no diameter include files (Debian ships those in erlang-dev, not erlang-diameter).
load_dictionary(Dia) ->
    {ok, [Forms | _]} = diameter_make:codec(Dia, [forms, return]),
    {ok, Mod, Bin} = compile:forms(Forms, [binary, return_errors]),
    {module, Mod} = code:load_binary(Mod, Dia, Bin),
    Mod.

%% RFC 6733 Section 5.3.1: the CER names Zh as a vendor-specific application
%% {10415, 16777221} with Supported-Vendor-Id 10415 (TS 29.109 Section 5.1).
service(Dict) ->
    [{'Origin-Host', ?HOST},
     {'Origin-Realm', ?REALM},
     {'Vendor-Id', 0},
     {'Product-Name', "OTP diameter Zh interop client"},
     {'Supported-Vendor-Id', [?VENDOR_3GPP]},
     {'Vendor-Specific-Application-Id',
      [[{'Vendor-Id', ?VENDOR_3GPP}, {'Auth-Application-Id', [?ZH]}]]},
     {decode_format, map},
     {string_decode, false},
     {application, [{alias, ?APP},
                    {dictionary, Dict},
                    {module, diameter_callback}]}].

wait_up(Timeout) ->
    receive
        {diameter_event, ?SVC, {up, _Ref, {_PeerRef, Caps}, _Config, _Pkt}} ->
            origin_host(Caps);
        {diameter_event, ?SVC, {up, _Ref, {_PeerRef, Caps}, _Config}} ->
            origin_host(Caps);
        {diameter_event, ?SVC, {closed, _Ref, Reason, _Config}} ->
            error({capabilities_exchange_failed, Reason});
        {diameter_event, ?SVC, _Other} ->
            wait_up(Timeout)
    after Timeout ->
        error(no_peer_up)
    end.

%% diameter_caps record: {diameter_caps, origin_host = {Local, Remote}, ...}
origin_host(Caps) ->
    {_Local, Remote} = element(2, Caps),
    Remote.

query(Q) ->
    [Kind, Id] = string:split(Q, ":"),
    %% An optional AVP ([ ] in the grammar) takes a list of zero or one value.
    Identity = case Kind of
        "impi" -> {'User-Name', [list_to_binary(Id)]};
        "impu" -> {'Public-Identity', [list_to_binary(Id)]}
    end,
    %% TS 29.109 Section 6.1.1 (MAR), list form: [Name | [{AVP, Value}]].
    MAR = ['MAR',
           {'Session-Id', diameter:session_id(?HOST)},
           {'Vendor-Specific-Application-Id',
            [{'Vendor-Id', ?VENDOR_3GPP}, {'Auth-Application-Id', [?ZH]}]},
           {'Auth-Session-State', 1},             % NO_STATE_MAINTAINED
           {'Origin-Host', ?HOST},
           {'Origin-Realm', ?REALM},
           {'Destination-Realm', "home1.net"},
           Identity],
    case diameter:call(?SVC, ?APP, MAR, [{timeout, 5000}]) of
        ['MAA' | Avps] when is_map(Avps) ->
            print_maa(Q, Avps);
        Other ->
            error({no_maa, Q, Other})
    end.

print_maa(Q, Avps) ->
    Result = opt(maps:get('Result-Code', Avps, undefined), 0),
    {Exp, Vendor} = case opt(maps:get('Experimental-Result', Avps, undefined), undefined) of
        undefined -> {0, 0};
        ER -> {field('Experimental-Result-Code', ER), field('Vendor-Id', ER)}
    end,
    User = case opt(maps:get('User-Name', Avps, undefined), undefined) of
        undefined -> "-";
        U -> U
    end,
    {Scheme, Auth, XRES, CK, IK} =
        case opt(maps:get('SIP-Auth-Data-Item', Avps, undefined), undefined) of
            undefined -> {"-", <<>>, <<>>, <<>>, <<>>};
            Item ->
                {opt(field('SIP-Authentication-Scheme', Item), "-"),
                 opt(field('SIP-Authenticate', Item), <<>>),
                 opt(field('SIP-Authorization', Item), <<>>),
                 opt(field('Confidentiality-Key', Item), <<>>),
                 opt(field('Integrity-Key', Item), <<>>)}
        end,
    {RAND, AUTN} = case byte_size(Auth) of
        32 -> split_binary(Auth, 16);
        _ -> {<<>>, Auth}
    end,
    io:format("MAA query=~s result=~b exp=~b vendor=~b user=~s scheme=~s "
              "rand=~s autn=~s xres=~s ck=~s ik=~s~n",
              [Q, Result, Exp, Vendor, User, Scheme,
               hex(RAND), hex(AUTN), hex(XRES), hex(CK), hex(IK)]).

%% Optional AVPs decode as [] or [Value] in some OTP releases, as the bare value or
%% absent in others.
opt(undefined, Default) -> Default;
opt([], Default) -> Default;
opt([V], _) -> V;
opt(V, _) -> V.

%% A grouped AVP decodes to a map (decode_format map) or a list of {Name, Value}.
field(Name, M) when is_map(M) -> maps:get(Name, M, undefined);
field(Name, L) when is_list(L) -> proplists:get_value(Name, L);
field(Name, T) when is_tuple(T) -> error({unexpected_grouped, Name, T}).

hex(B) when is_binary(B) ->
    << <<(hexdigit(N div 16)), (hexdigit(N rem 16))>> || <<N>> <= B >>;
hex(L) when is_list(L) -> hex(list_to_binary(L)).

hexdigit(D) when D < 10 -> $0 + D;
hexdigit(D) -> $a + D - 10.
