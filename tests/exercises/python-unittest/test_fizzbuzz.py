import unittest

from fizzbuzz import fizzbuzz


class FizzBuzzTest(unittest.TestCase):
    def test_numbers(self):
        self.assertEqual(fizzbuzz(1), "1")

    def test_fizz_buzz(self):
        self.assertEqual([fizzbuzz(3), fizzbuzz(5), fizzbuzz(15)], ["Fizz", "Buzz", "FizzBuzz"])


if __name__ == "__main__":
    unittest.main()
