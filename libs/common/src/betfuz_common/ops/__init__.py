"""Operations, written once for every service: cases, the actions that resolve them with four
eyes where money moves, and the append-only audit of every ops request.

A service says which actions it offers (`ActionSpec`s in an `Operations` registry) and opens
cases where its exceptions happen (`open_case`, in the transaction that records them); the API
(`ops_api`) and the rules live here.
"""
