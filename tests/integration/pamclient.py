#!/usr/bin/python3
"""pamclient: a PAM application on libpam through ctypes, for tests that need what pamtester
does not show (the environment a session exports) or cannot send (a 1 MB answer).

Usage: pamclient.py SERVICE USER OP... (OP: authenticate, acct_mgmt, chauthtok, open_session,
close_session, setcred). Prompts go to stdout ("PROMPT_OFF: text" / "PROMPT_ON: text"), one
answer is read per line on stdin; messages print as "ERROR: text" / "INFO: text". Each op prints
"RESULT op code"; after open_session the PAM environment prints as "ENV NAME=value".
PAMCLIENT_FAIL_INFO=REGEX: the conversation fails (PAM_CONV_ERR) on an info message matching
REGEX, as a greeter whose user pressed Cancel. PAMCLIENT_SIGINT=1: SIGINT is caught (printed as
"SIGNAL SIGINT") instead of ending the client, as an application that handles Ctrl-C."""
import ctypes
import ctypes.util
import os
import re
import signal
import sys

# Symbols through the global scope, so that an LD_PRELOADed pam_wrapper interposes pam_start.
ctypes.CDLL(ctypes.util.find_library("pam"), mode=ctypes.RTLD_GLOBAL)
libpam = ctypes.CDLL(None)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.calloc.restype = ctypes.c_void_p
libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]
libc.free.argtypes = [ctypes.c_void_p]

PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_ERROR_MSG, PAM_TEXT_INFO = 1, 2, 3, 4


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(PamMessage)),
                             ctypes.POINTER(ctypes.POINTER(PamResponse)), ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


def conversation(n, msgs, resp, _data):
    out = libc.calloc(n, ctypes.sizeof(PamResponse))
    if not out:
        return 5  # PAM_BUF_ERR
    arr = ctypes.cast(out, ctypes.POINTER(PamResponse))
    for i in range(n):
        m = msgs[i].contents
        text = m.msg.decode("utf-8", "replace")
        if m.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
            tag = "PROMPT_OFF" if m.msg_style == PAM_PROMPT_ECHO_OFF else "PROMPT_ON"
            sys.stdout.write(f"{tag}: {text}\n")
            sys.stdout.flush()
            line = sys.stdin.buffer.readline()
            if not line:
                return 19  # PAM_CONV_ERR
            arr[i].resp = libc.strdup(line.rstrip(b"\n"))
        else:
            tag = "ERROR" if m.msg_style == PAM_ERROR_MSG else "INFO"
            sys.stdout.write(f"{tag}: {text}\n")
            sys.stdout.flush()
            fail = os.environ.get("PAMCLIENT_FAIL_INFO")
            if fail and tag == "INFO" and re.search(fail, text):
                libc.free(out)
                return 19  # PAM_CONV_ERR
    resp[0] = arr
    return 0


def main():
    service, user, ops = sys.argv[1], sys.argv[2], sys.argv[3:]
    if os.environ.get("PAMCLIENT_SIGINT"):
        signal.signal(signal.SIGINT, lambda *_: (sys.stdout.write("SIGNAL SIGINT\n"), sys.stdout.flush()))
    conv = PamConv(CONV_FUNC(conversation), None)
    handle = ctypes.c_void_p()
    libpam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(PamConv),
                                 ctypes.POINTER(ctypes.c_void_p)]
    libpam.pam_getenvlist.restype = ctypes.POINTER(ctypes.c_char_p)
    libpam.pam_strerror.restype = ctypes.c_char_p
    rc = libpam.pam_start(service.encode(), user.encode("utf-8", "surrogateescape"), ctypes.byref(conv),
                          ctypes.byref(handle))
    if rc != 0:
        print(f"RESULT pam_start {rc}")
        return 1
    last = 0
    for op in ops:
        fn = {"authenticate": libpam.pam_authenticate, "acct_mgmt": libpam.pam_acct_mgmt,
              "chauthtok": libpam.pam_chauthtok, "open_session": libpam.pam_open_session,
              "close_session": libpam.pam_close_session, "setcred": libpam.pam_setcred}[op]
        flag = 2 if op == "setcred" else 0  # PAM_ESTABLISH_CRED
        last = fn(handle, flag)
        print(f"RESULT {op} {last} {libpam.pam_strerror(handle, last).decode()}")
        sys.stdout.flush()
        if op == "open_session" and last == 0:
            env = libpam.pam_getenvlist(handle)
            i = 0
            while env and env[i]:
                print("ENV " + env[i].decode())
                i += 1
        if last != 0:
            break
    libpam.pam_end(handle, last)
    return 0 if last == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
