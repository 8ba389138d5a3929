#!/usr/bin/python3
"""Regenerates mcgrew-gcm-test-01.json from the draft's listing (embedded
below as transcribed) and checks it with python3-cryptography: every tag
must verify, and pages 6 and 8 must decrypt to their published plaintexts.
The other plaintexts are recorded as python3-cryptography decrypts them."""
import re, json

RAW = r"""
	/* Page 6 */
	{
		"4c 80 cd ef bb 5d 10 da 90 6a c7 3c 36 13 a6 34 "
		"2e 44 3b 68",
		"49 56 ed 7e 3b 24 4c fe",
		"00 00 43 21 87 65 43 21 00 00 00 00",
		"fe cf 53 7e 72 9d 5b 07 dc 30 df 52 8d d2 2b 76 "
		"8d 1b 98 73 66 96 a6 fd 34 85 09 fa 13 ce ac 34 "
		"cf a2 43 6f 14 a3 f3 cf 65 92 5b f1 f4 a1 3c 5d "
		"15 b2 1e 18 84 f5 ff 62 47 ae ab b7 86 b9 3b ce "
		"61 bc 17 d7 68 fd 97 32",
		"45 90 18 14 8f 6c be 72 2f d0 47 96 56 2d fd b4"
	},
	/* Page 7 */
	{
		"fe ff e9 92 86 65 73 1c 6d 6a 8f 94 67 30 83 08 "
		"ca fe ba be",
		"fa ce db ad de ca f8 88",
		"00 00 a5 f8 00 00 00 0a",
		"de b2 2c d9 b0 7c 72 c1 6e 3a 65 be eb 8d f3 04 "
		"a5 a5 89 7d 33 ae 53 0f 1b a7 6d 5d 11 4d 2a 5c "
		"3d e8 18 27 c1 0e 9a 4f 51 33 0d 0e ec 41 66 42 "
		"cf bb 85 a5 b4 7e 48 a4 ec 3b 9b a9 5d 91 8b d1",
		"83 b7 0d 3a a8 bc 6e e4 c3 09 e9 d8 5a 41 ad 4a"
	},
	/* Page 8 */
	{
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"11 22 33 44",
		"01 02 03 04 05 06 07 08",
		"4a 2c bf e3 00 00 00 02",
		"ff 42 5c 9b 72 45 99 df 7a 3b cd 51 01 94 e0 0d "
		"6a 78 10 7f 1b 0b 1c bf 06 ef ae 9d 65 a5 d7 63 "
		"74 8a 63 79 85 77 1d 34 7f 05 45 65 9f 14 e9 9d "
		"ef 84 2d 8e",
		"b3 35 f4 ee cf db f8 31 82 4b 4c 49 15 95 6c 96"
	},
	/* Page 9 */
	{
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
		"00 00 00 00",
		"00 00 00 00 00 00 00 00",
		"00 00 00 00 00 00 00 01",
		"46 88 da f2 f9 73 a3 92 73 29 09 c3 31 d5 6d 60 "
		"f6 94 ab aa 41 4b 5e 7f f5 fd cd ff f5 e9 a2 84 "
		"45 64 76 49 27 19 ff b6 4d e7 d9 dc a1 e1 d8 94 "
		"bc 3b d5 78 73 ed 4d 18 1d 19 d4 d5 c8 c1 8a f3",
		"f8 21 d4 96 ee b0 96 e9 8a d2 b6 9e 47 99 c7 1d"
	},
	/* Page 10 */
	{
		"3d e0 98 74 b3 88 e6 49 19 88 d0 c3 60 7e ae 1f "
		"57 69 0e 43",
		"4e 28 00 00 a2 fc a1 a3",
		"42 f6 7e 3f 10 10 10 10 10 10 10 10",
		"fb a2 ca a4 85 3c f9 f0 f2 2c b1 0d 86 dd 83 b0 "
		"fe c7 56 91 cf 1a 04 b0 0d 11 38 ec 9c 35 79 17 "
		"65 ac bd 87 01 ad 79 84 5b f9 fe 3f ba 48 7b c9 "
		"17 55 e6 66 2b 4c 8d 0d 1f 5e 22 73 95 30 32 0a",
		"e0 d7 31 cc 97 8e ca fa ea e8 8f 00 e8 0d 6e 48"
	},
	/* Page 11 */
	{
		"3d e0 98 74 b3 88 e6 49 19 88 d0 c3 60 7e ae 1f "
		"57 69 0e 43",
		"4e 28 00 00 a2 fc a1 a3",
		"42 f6 7e 3f 10 10 10 10 10 10 10 10",
		"fb a2 ca 84 5e 5d f9 f0 f2 2c 3e 6e 86 dd 83 1e "
		"1f c6 57 92 cd 1a f9 13 0e 13 79 ed",
		"36 9f 07 1f 35 e0 34 be 95 f1 12 e4 e7 d0 5d 35"
	},
	/* Page 12 */
	{
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"de ca f8 88",
		"ca fe de ba ce fa ce 74",
		"00 00 01 00 00 00 00 00 00 00 00 01",
		"18 a6 fd 42 f7 2c bf 4a b2 a2 ea 90 1f 73 d8 14 "
		"e3 e7 f2 43 d9 54 12 e1 c3 49 c1 d2 fb ec 16 8f "
		"91 90 fe eb af 2c b0 19 84 e6 58 63 96 5d 74 72 "
		"b7 9d a3 45 e0 e7 80 19 1f 0d 2f 0e 0f 49 6c 22 "
		"6f 21 27 b2 7d b3 57 24 e7 84 5d 68",
		"65 1f 57 e6 5f 35 4f 75 ff 17 01 57 69 62 34 36"
	},
	/* Page 13 */
	{
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"73 61 6c 74",
		"61 6e 64 01 69 76 65 63",
		"17 40 5e 67 15 6f 31 26 dd 0d b9 9b",
		"f2 d6 9e cd bd 5a 0d 5b 8d 5e f3 8b ad 4d a5 8d "
		"1f 27 8f de 98 ef 67 54 9d 52 4a 30 18 d9 a5 7f "
		"f4 d3 a3 1c e6 73 11 9e",
		"45 16 26 c2 41 57 71 e3 b7 ee bc a6 14 c8 9b 35"
	},
	/* Page 14 */
	{
		"3d e0 98 74 b3 88 e6 49 19 88 d0 c3 60 7e ae 1f "
		"57 69 0e 43",
		"4e 28 00 00 a2 fc a1 a3",
		"42 f6 7e 3f 10 10 10 10 10 10 10 10",
		"fb a2 ca d1 2f c1 f9 f0 0d 3c eb f3 05 41 0d b8 "
		"3d 77 84 b6 07 32 3d 22 0f 24 b0 a9 7d 54 18 28 "
		"00 ca db 0f 68 d9 9e f0 e0 c0 c8 9a e9 be a8 88 "
		"4e 52 d6 5b c1 af d0 74 0f 74 24 44 74 7b 5b 39 "
		"ab 53 31 63 aa d4 55 0e e5 16 09 75",
		"cd b6 08 c5 76 91 89 60 97 63 b8 e1 8c aa 81 e2"
	},
	/* Page 15 */
	{
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"73 61 6c 74",
		"61 6e 64 01 69 76 65 63",
		"17 40 5e 67 15 6f 31 26 dd 0d b9 9b",
		"d4 b7 ed 86 a1 77 7f 2e a1 3d 69 73 d3 24 c6 9e "
		"7b 43 f8 26 fb 56 83 12 26 50 8b eb d2 dc eb 18 "
		"d0 a6 df 10 e5 48 7d f0 74 11 3e 14 c6 41 02 4e "
		"3e 67 73 d9 1a 62 ee 42 9b 04 3a 10 e3 ef e6 b0 "
		"12 a4 93 63 41 23 64 f8",
		"c0 ca c5 87 f2 49 e5 6b 11 e2 4f 30 e4 4c cc 76"
	},
	/* Page 16 */
	{
		"7d 77 3d 00 c1 44 c5 25 ac 61 9d 18 c8 4a 3f 47 "
		"d9 66 42 67",
		"43 45 7e 91 82 44 3b c6",
		"33 54 67 ae ff ff ff ff",
		"43 7f 86 6b",
		"cb 3f 69 9f e9 b0 82 2b ac 96 1c 45 04 be f2 70"
	},
	/* Page 16 */
	{
		"ab bc cd de f0 01 12 23 34 45 56 67 78 89 9a ab "
		"de ca f8 88",
		"ca fe de ba ce fa ce 74",
		"00 00 01 00 00 00 00 00 00 00 00 01",
		"29 c9 fc 69 a1 97 d0 38 cc dd 14 e2 dd fc aa 05 "
		"43 33 21 64",
		"41 25 03 52 43 03 ed 3c 6c 5f 28 38 43 af 8c 3e"
	},
	/* Page 17 */
	{
		"6c 65 67 61 6c 69 7a 65 6d 61 72 69 6a 75 61 6e "
		"61 61 6e 64 64 6f 69 74 62 65 66 6f 72 65 69 61 "
		"74 75 72 6e",
		"33 30 21 69 67 65 74 6d",
		"79 6b 69 63 ff ff ff ff ff ff ff ff",
		"f9 7a b2 aa 35 6d 8e dc e1 76 44 ac 8c 78 e2 5d "
		"d2 4d ed bb 29 eb f1 b6 4a 27 4b 39 b4 9c 3a 86 "
		"4c d3 d7 8c a4 ae 68 a3 2b 42 45 8f b5 7d be 82 "
		"1d cc 63 b9",
		"d0 93 7b a2 94 5f 66 93 68 66 1a 32 9f b4 c0 53"
	},
	/* Page 19 */
	{
		"3d e0 98 74 b3 88 e6 49 19 88 d0 c3 60 7e ae 1f "
		"57 69 0e 43",
		"4e 28 00 00 a2 fc a1 a3",
		"3f 7e f6 42 10 10 10 10 10 10 10 10",
		"fb a2 ca a8 c6 c5 f9 f0 f2 2c a5 4a 06 12 10 ad "
		"3f 6e 57 91 cf 1a ca 21 0d 11 7c ec 9c 35 79 17 "
		"65 ac bd 87 01 ad 79 84 5b f9 fe 3f ba 48 7b c9 "
		"63 21 93 06",
		"84 ee ca db 56 91 25 46 e7 a9 5c 97 40 d7 cb 05"
	},
	/* Page 20 */
	{
		"4c 80 cd ef bb 5d 10 da 90 6a c7 3c 36 13 a6 34 "
		"22 43 3c 64",
		"48 55 ec 7d 3a 23 4b fd",
		"00 00 43 21 87 65 43 21 00 00 00 07",
		"74 75 2e 8a eb 5d 87 3c d7 c0 f4 ac c3 6c 4b ff "
		"84 b7 d7 b9 8f 0c a8 b6 ac da 68 94 bc 61 90 69",
		"ef 9c bc 28 fe 1b 56 a7 c4 e0 d5 8c 86 cd 2b c0"
	},
"""
raw=RAW
blocks=re.findall(r'/\* Page (\d+) \*/\s*\{(.*?)\}', raw, re.S)
pts={6:"45000048699a000080114db7c0a80102c0a801010a9bf15638d301000001000000000000045f736970045f756470037369700963796265726369747902646b000021000101020201",
     8:"4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee0000000007002400020bf0000020405b40101040201020201"}
src=("draft-mcgrew-gcm-test-01 (D. McGrew, 'Test Cases for the use of Galois/Counter Mode (GCM) and Galois Message "
     "Authentication Code (GMAC) in IPsec ESP', March 2009), section 4: the AES-GCM ESP packets with 128- and 256-bit keys "
     "(192-bit and GMAC cases are left out: sluice has no such proposals). Fields as the draft lists them: key followed by the "
     "4-byte salt, 8-byte explicit IV, AAD (SPI || seq, or SPI || seq-hi || seq-lo with ESN), ciphertext, 16-byte tag; "
     "plaintext (IP packet + ESP trailer) where transcribed. Transcribed from the draft's listing as reproduced in OpenBSD's "
     "regress/sys/crypto/gmac test (keys, IVs, AAD, ciphertexts, tags) and the mlspp crypto test (plaintexts of pages 6 and 8). The other plaintexts were decrypted from the draft's ciphertexts with python3-cryptography's AESGCM by testdata/mcgrew-gcm-test-01.py, which also checks every tag and the two published plaintexts.")
cases=[]
for page, body in blocks:
    fields=[s.replace(' ','') for s in re.findall(r'"((?:[^"]|"\s*\n\s*")*)"', body)]
    fields=[re.sub(r'"\s*\n\s*"','',f) for f in fields]
    key,iv,aad,ct,tag=fields
    c={"page":int(page),"key":key,"iv":iv,"aad":aad,"ciphertext":ct,"tag":tag}
    if int(page) in pts: c["plaintext"]=pts[int(page)]
    for k in ("key","iv","aad","ciphertext","tag"): bytes.fromhex(c[k])
    cases.append(c)
json.dump({"source":src,"cases":cases}, open('mcgrew-gcm-test-01.json','w'), indent=1)
print(len(cases), [ (c['page'], len(c['key'])//2, len(c['aad'])//2, len(c['ciphertext'])//2) for c in cases])
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
for c in cases:
    k=bytes.fromhex(c['key']); n=k[-4:]+bytes.fromhex(c['iv'])
    pt=AESGCM(k[:-4]).decrypt(n, bytes.fromhex(c['ciphertext']+c['tag']), bytes.fromhex(c['aad']))
    assert 'plaintext' not in c or pt.hex()==c['plaintext'], c['page']
    c.setdefault('plaintext', pt.hex())
json.dump({"source":src,"cases":cases}, open('mcgrew-gcm-test-01.json','w'), indent=1)
print("ok")

