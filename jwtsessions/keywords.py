"""Word lists for :mod:`jwtsessions.keystrength`: common words and published example keys.

Both are written for this project (no list was copied): the words a person reaches for when
making up a "secret" phrase, and keys published in tutorials, READMEs and generators, which sit
at the top of every cracking dictionary. Published keys are stored folded (lowercase, letters
and digits only), as :func:`jwtsessions.keystrength.weakness` compares them.
"""

from __future__ import annotations

#: The words of made-up key phrases: what a cracker's phrase rules try first.
_TOP = """
    a an the this that my your our is are be of to in on at for by with and or not no so
    very really super ultra mega extra more most all any one two my own new top best good
    secure secret private safe strong long random key token jwt sign signing signed api app
    auth access refresh session password pass test dev prod production stage live admin
    root master main default local server service client user web site project company
"""
TOP_WORDS: frozenset[str] = frozenset(_TOP.split())

_COMMON = """
    a an the this that these my your our their his her its me we you they it i is are was be
    am been being of to in on at for from by with without and or not no yes so as if then than
    very really super ultra mega extra more most much many all any some every each one two
    three four five six seven eight nine ten first last best good great nice cool awesome
    secure security secret secrets private public hidden safe safer safest strong stronger
    long longer random key keys token tokens jwt jws jwe sign signing signed signature
    verify auth authentication authorization oauth login logout session sessions password
    passwords pass passphrase phrase access refresh api app apps application service server
    client user users admin administrator root master main default test testing tests dev
    develop development local localhost prod production stage staging live demo sample
    hello world welcome love like hate life god money dragon monkey sunshine shadow football
    baseball soccer princess letmein trustno iloveyou freedom whatever qwerty asdf zxcv
    abc abcd xyz foo bar baz qux temp tmp new old here there now today always never forever
    do does dont make made use used using get got set put go keep hold need want should must
    can cannot could would will shall may might only just also too still yet ever
    encrypt encryption encrypted decrypt hash hashing hmac sha salt pepper crypto cipher code
    codes data base database db config configuration setting settings env environment
    django python flask node express spring boot java rails laravel react angular vue web
    site website project company team name my own mine top topsecret classified confidential
    internal external production ready change changed replace value string text word words
    number numbers char chars character characters bit bits byte bytes length size min max
    is are at least generate generated unique special please thank thanks
    cat dog keyboard horse battery staple correct lorem ipsum dolor sit amet
    black white red blue green orange purple yellow gold silver dark light night day sun moon
    star stars fire water earth wind ice snow rain storm thunder magic power king queen
    tiger lion eagle wolf bear shark cobra phoenix ninja hacker matrix cyber
"""
#: Words a person reaches for in a made-up phrase: one of a few hundred.
COMMON_WORDS: frozenset[str] = TOP_WORDS | frozenset(_COMMON.split())

PUBLISHED_KEYS: frozenset[str] = frozenset(
    {
        # Tutorials, docs, READMEs and defaults (folded).
        "myverylongandsafesecretkey",
        "your256bitsecret",
        "your384bitsecret",
        "your512bitsecret",
        "astringsecretatleast256bitslong",
        "yoursecretkey",
        "yoursecretkeyhere",
        "yourjwtsecret",
        "yourjwtsecretkey",
        "mysecretkey",
        "mysecret",
        "myjwtsecret",
        "mysupersecretkey",
        "supersecretkey",
        "supersecret",
        "secretkey",
        "jwtsecretkey",
        "jwtsecret",
        "secret",
        "shhhhh",
        "shhhhhared",
        "shhhhharedsecret",
        "keyboardcat",
        "topsecret",
        "thisisasecret",
        "thisismysecretkey",
        "notasecret",
        "s3cr3t",
        "changeme",
        "changeit",
        "password",
        "qwertyuiopasdfghjklzxcvbnm123456",
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
        # Keys copied from key generators and Spring/ASP.NET tutorials into real projects.
        "cfjandrgukxp2s5v8ybegkbpeshvmyq3t6w9zcjmcqftjwnzr4u7x",
        "404e635266556a586e3272357538782f413f4428472b4b6250645367566b5970",
        "5367566b59703373367639792f423f4528482b4d6251655468576d5a71347437",
        "1234nbizz234sunshineultrasecuresecretisawesome",
        "r9imkoe5crmgvjbbtp4hrqn7qipputoj",
        "0a6b944dd2fb46fca85e0295c986cd9f",
        "16f8c0ef4a5d391b26034086c628469d3f9f497f08163ab9b40137092f2909ef",
    }
)
